"""Unresolved update conflicts in a project: what ``floe run`` and ``floe dev`` check first.

A ``floe update`` with conflicts leaves each conflicted file unmerged in git's index, holding
the markers copier writes (``<<<<<<< before updating`` … ``>>>>>>> after updating``). Until they
are resolved, dbt fails on the first one it parses (a YAML or SQL error that does not say why),
so a run names them first. Two git calls, scoped to the project: ``git ls-files -u`` (the
index) and ``git grep`` for the marker line in the tracked files (a marker committed or ``git
add``-ed unresolved). Outside git, or if git fails, nothing is reported: the check never stops a
run by its own failure.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from floe_scaffold.errors import EXIT_CONFLICTS, FloeError

__all__ = [
    "CONFLICT_MARKER",
    "Unresolved",
    "UnresolvedConflictsError",
    "refuse_conflicts",
    "unresolved",
]

#: The first line of every conflict ``floe update`` leaves (copier's ``git merge-file`` label).
CONFLICT_MARKER = "<<<<<<< before updating"


@dataclass(frozen=True)
class Unresolved:
    """Files (relative to the project root) that still hold an update's conflict."""

    unmerged: tuple[str, ...]  # unmerged in git's index (`git status` shows UU)
    marked: tuple[str, ...]  # tracked, and holding a conflict marker line

    def files(self) -> list[str]:
        """Each file once, with what is unresolved about it."""
        names = sorted({*self.unmerged, *self.marked})
        return [f"{name} ({self._what(name)})" for name in names]

    def _what(self, name: str) -> str:
        if name in self.marked and name in self.unmerged:
            return "conflict markers; unmerged in git's index"
        return "conflict markers" if name in self.marked else "unmerged in git's index"


class UnresolvedConflictsError(FloeError):
    """The project holds conflicts of a ``floe update`` that are not resolved (exit 3)."""

    exit_code = EXIT_CONFLICTS

    def __init__(self, root: Path, found: Unresolved) -> None:
        self.found = found
        count = len(found.files())
        super().__init__(
            f"{root} has unresolved conflicts from `floe update` in {count} "
            f"file{'s' if count != 1 else ''}; dbt and Dagster would fail on them. Resolve "
            f"each (keep what you want between {CONFLICT_MARKER} / ======= / >>>>>>> after "
            "updating, delete the marker lines), `git add` it, `git commit`, then run again",
            source=root,
        )

    def lines(self) -> list[str]:
        return [self.message, *self.found.files()]


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[bytes] | None:
    try:
        return subprocess.run(
            ["git", "--literal-pathspecs", *args],
            cwd=root,
            capture_output=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None


def _names(output: bytes) -> set[str]:
    return {name for name in output.decode("utf-8", "surrogateescape").split("\0") if name}


def unresolved(root: Path) -> Unresolved:
    """What is unresolved under ``root`` (nothing when it is not in git, or git fails)."""
    listed = _git(root, "ls-files", "-u", "-z", "--", ".")
    unmerged: set[str] = set()
    if listed is not None and listed.returncode == 0:
        unmerged = {entry.split("\t", 1)[1] for entry in _names(listed.stdout)}
    found = _git(root, "grep", "-l", "-z", "-I", "-e", f"^{CONFLICT_MARKER}", "--", ".")
    marked = _names(found.stdout) if found is not None and found.returncode == 0 else set()
    return Unresolved(tuple(sorted(unmerged)), tuple(sorted(marked)))


def refuse_conflicts(root: Path) -> None:
    """Raise :class:`UnresolvedConflictsError` if the project at ``root`` holds any."""
    found = unresolved(root)
    if found.unmerged or found.marked:
        raise UnresolvedConflictsError(root, found)
