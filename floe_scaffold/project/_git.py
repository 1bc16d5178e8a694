"""git for floe: the generated project's first commit, and the calls init and update make."""

from __future__ import annotations

import subprocess
from pathlib import Path

from floe_scaffold.errors import SystemFailureError

__all__ = ["IDENTITY", "commit_initial", "git_bytes", "git_text", "inside_git_work_tree"]

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
        said = done.stderr.decode("utf-8", "replace").strip() or done.stdout.decode().strip()
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


def commit_initial(dest: Path, message: str) -> str | None:
    """``git init`` + commit everything; returns why not, or None when it worked."""
    try:
        steps = [("init", "-q"), ("add", "-A")]
        for step in steps:
            done = _git(dest, *step)
            if done.returncode != 0:
                return done.stderr.strip() or f"git {step[0]} failed"
        has_identity = _git(dest, "config", "user.email").stdout.strip() != ""
        identity = () if has_identity else IDENTITY
        done = _git(dest, *identity, "commit", "-q", "--no-verify", "-m", message)
    except (OSError, subprocess.TimeoutExpired) as error:
        return str(error)
    return None if done.returncode == 0 else (done.stderr.strip() or "git commit failed")
