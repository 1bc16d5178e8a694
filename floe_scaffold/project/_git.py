"""git for floe: the generated project's first commit, and the calls init and update make."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from floe_scaffold.errors import SystemFailureError

__all__ = [
    "IDENTITY",
    "InitialCommit",
    "commit_initial",
    "git_bytes",
    "git_text",
    "inside_git_work_tree",
]

#: The committer of floe's own commits when git has no identity configured.
IDENTITY = ("-c", "user.name=floe-scaffold", "-c", "user.email=floe-scaffold@localhost")


def git_bytes(cwd: Path, *args: str, stdin: bytes | None = None) -> bytes:
    """``git args`` in ``cwd``: its stdout; a failure is a SystemFailureError in git's words."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, input=stdin, capture_output=True, check=False, timeout=300
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SystemFailureError(f"git {args[0]} failed in {cwd}: {error}") from None
    if done.returncode != 0:
        said = (
            done.stderr.decode("utf-8", "replace").strip()
            or done.stdout.decode("utf-8", "replace").strip()
            or f"it exited with code {done.returncode} and said nothing"
        )
        raise SystemFailureError(f"git {args[0]} failed in {cwd}: {said}", source=cwd)
    return done.stdout


def git_text(cwd: Path, *args: str, stdin: str | None = None) -> str:
    """:func:`git_bytes` with text in and out (undecodable bytes kept as surrogates)."""
    out = git_bytes(cwd, *args, stdin=None if stdin is None else stdin.encode())
    return out.decode("utf-8", "surrogateescape")


def _git(dest: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=dest, capture_output=True, text=True, check=False, timeout=120
    )


def inside_git_work_tree(dest: Path) -> bool:
    """Whether ``dest`` is already inside a git work tree (then it is left to the user)."""
    try:
        done = _git(dest, "rev-parse", "--is-inside-work-tree")
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.strip() == "true"


@dataclass(frozen=True)
class InitialCommit:
    """How the first commit went.

    ``problem`` says why there is none; ``borrowed_identity`` is true when git had no user
    identity and the commit was made as floe-scaffold.
    """

    problem: str | None
    borrowed_identity: bool = False


def commit_initial(dest: Path, message: str) -> InitialCommit:
    """``git init`` + commit everything, as the user when git knows who they are.

    With no identity configured (a fresh HOME, say), the commit is made as floe-scaffold, for
    this one commit only (nothing is written to git's config); the caller tells the user how to
    set theirs before their own first commit.
    """
    try:
        steps = [("init", "-q"), ("add", "-A")]
        for step in steps:
            done = _git(dest, *step)
            if done.returncode != 0:
                return InitialCommit(done.stderr.strip() or f"git {step[0]} failed")
        # `git var` fails exactly when `git commit` would refuse for want of an identity.
        borrowed = _git(dest, "var", "GIT_COMMITTER_IDENT").returncode != 0
        identity = IDENTITY if borrowed else ()
        done = _git(dest, *identity, "commit", "-q", "--no-verify", "-m", message)
    except (OSError, subprocess.TimeoutExpired) as error:
        return InitialCommit(str(error))
    if done.returncode != 0:
        return InitialCommit(done.stderr.strip() or "git commit failed")
    return InitialCommit(None, borrowed_identity=borrowed)
