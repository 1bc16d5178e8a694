"""The generated project as a git repository with a first commit (updates need one)."""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["commit_initial", "inside_git_work_tree"]

_IDENTITY = ("-c", "user.name=floe-scaffold", "-c", "user.email=floe-scaffold@localhost")


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
        identity = () if has_identity else _IDENTITY
        done = _git(dest, *identity, "commit", "-q", "--no-verify", "-m", message)
    except (OSError, subprocess.TimeoutExpired) as error:
        return str(error)
    return None if done.returncode == 0 else (done.stderr.strip() or "git commit failed")
