"""The errors floe-scaffold raises, and the exit code each one maps to.

Every error a user can cause derives from :class:`FloeError`. The command line maps them to exit
codes in one place (``floe_scaffold._cli``):

==== =========================================================================
code meaning
==== =========================================================================
0    success
1    invalid input: the contract, a property, a name or a path is wrong
2    a file is missing or unreadable, a usage error, or a system error (disk,
     permissions, a tool that failed)
3    unresolved update conflicts: ``floe update`` applied the update with
     conflicts (the files listed hold conflict markers and are unmerged in git's
     index; resolve them, ``git add`` them, then commit), or ``floe run`` /
     ``floe dev`` found such files left and did not start
130  interrupted: Ctrl-C (SIGINT) stopped the command; ``floe run`` returns it once
     Dagster and dbt have stopped and the run is recorded
==== =========================================================================
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "EXIT_CONFLICTS",
    "EXIT_INTERRUPTED",
    "EXIT_INVALID_INPUT",
    "EXIT_OK",
    "EXIT_SYSTEM",
    "ContractError",
    "FloeError",
    "InputFileError",
    "Issue",
    "ProfileError",
    "ProjectError",
    "SystemFailureError",
    "UpdateError",
]

EXIT_OK = 0
EXIT_INVALID_INPUT = 1
EXIT_SYSTEM = 2
EXIT_CONFLICTS = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C


@dataclass(frozen=True)
class Issue:
    """One problem found in the input: where it is (a dotted field path) and what to do."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class FloeError(Exception):
    """Root of every error meant for a user. ``exit_code`` is what the CLI returns.

    ``output`` is a tool's own text that explains the error (dbt's messages, a command to run):
    the CLI shows it after :meth:`lines` as lines, with ANSI codes removed and other control
    characters escaped, while each of :meth:`lines` is shown on one line, escaped whole (it may
    quote a name from the user's file, where a line break must not forge another line).
    """

    exit_code: int = EXIT_SYSTEM

    def __init__(
        self, message: str, *, source: Path | str | None = None, output: str | None = None
    ) -> None:
        # str(error), which Dagster shows for a component's error, carries the output too.
        super().__init__(f"{message}\n{output}" if output else message)
        self.message = message
        self.source = str(source) if source is not None else None
        self.output = output or None

    def lines(self) -> list[str]:
        """The text shown to the user, one line per list item."""
        return [self.message]


class InputFileError(FloeError):
    """A file that was named on the command line is missing or cannot be read (exit 2)."""

    exit_code = EXIT_SYSTEM


class SystemFailureError(FloeError):
    """The machine refused: a write failed, a directory is not writable, a tool failed (exit 2)."""

    exit_code = EXIT_SYSTEM


class _IssuesError(FloeError):
    """An error made of one or more :class:`Issue` lines (exit 1)."""

    exit_code = EXIT_INVALID_INPUT
    headline = "invalid input"

    def __init__(self, issues: Iterable[Issue], *, source: Path | str | None = None) -> None:
        self.issues: tuple[Issue, ...] = tuple(issues)
        where = f" in {source}" if source is not None else ""
        count = len(self.issues)
        noun = "error" if count == 1 else "errors"
        super().__init__(f"{self.headline}{where}: {count} {noun}", source=source)

    def lines(self) -> list[str]:
        return [self.message, *(str(issue) for issue in self.issues)]


class ContractError(_IssuesError):
    """The CompiledArtifacts contract is not valid JSON or does not match the contract."""

    headline = "invalid CompiledArtifacts"


class ProfileError(_IssuesError):
    """The contract is valid but a dbt profile cannot be built from it (exit 1)."""

    headline = "cannot build a dbt profile"


class ProjectError(_IssuesError):
    """A project cannot be generated there: a bad name, or files it would overwrite (exit 1)."""

    headline = "cannot generate the project"


class UpdateError(_IssuesError):
    """A project cannot be updated: not floe's, not in git, uncommitted changes, a downgrade."""

    headline = "cannot update the project"
