"""Child process of the kill tests: apply a saved update plan to a work tree, and die on cue.

``python -m tests.hardening.apply_driver PLAN TOP MODE [N]``:

* ``kill-at N``: SIGKILL this process just before its N-th file operation (1-based);
* ``kill-after-commit``: SIGKILL it right after the commit point (the journal's unlink), as it
  starts removing the staging folder;
* ``go``: print ``ready`` and apply (the parent kills it after a random delay);
* ``count``: apply, then print how many file operations it took and how long (seconds);
* ``plain``: apply (a parent sets a resource limit, such as RLIMIT_FSIZE, first).

Exit 0 when the apply finished, 2 when it failed (the error on stderr).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

from floe_scaffold.errors import FloeError
from floe_scaffold.project import _journal
from floe_scaffold.project._journal import FileOp, apply_journaled
from floe_scaffold.project._update import _git, _git_bytes


def main(argv: list[str]) -> int:
    """Apply the plan of ``argv`` as the mode says."""
    plan_path, top, mode, *rest = argv
    plan = json.loads(Path(plan_path).read_text(encoding="utf-8"))
    ops = [
        FileOp(
            op["path"],
            None if op["content"] is None else base64.b64decode(op["content"]),
            op["mode"],
        )
        for op in plan["ops"]
    ]
    root = Path(top)
    git_dir = Path(_git(root, "rev-parse", "--absolute-git-dir").strip())
    calls = [0]

    def hook(_operation: str, _path: Path) -> None:
        calls[0] += 1
        if mode == "kill-at" and calls[0] == int(rest[0]):
            os.kill(os.getpid(), signal.SIGKILL)

    _journal.fault_hook = hook
    if mode == "kill-after-commit":
        remove = shutil.rmtree

        def rmtree(path: Any, *args: Any, **kwargs: Any) -> None:
            folder = Path(path)
            if folder.name == _journal.JOURNAL_DIR and not (folder / "journal.json").exists():
                os.kill(os.getpid(), signal.SIGKILL)
            remove(path, *args, **kwargs)

        shutil.rmtree = rmtree  # type: ignore[assignment]
    if mode == "go":
        print("ready", flush=True)
    started = time.perf_counter()
    try:
        apply_journaled(root, git_dir, ops, plan["index_info"], _git_bytes)
    except FloeError as error:
        print(error.message, file=sys.stderr)
        return 2
    if mode == "count":
        print(calls[0], time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
