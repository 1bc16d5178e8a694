"""Scratch folders that a killed ``floe`` leaves behind are removed by the next one.

Each folder is made in the system temporary directory as ``<prefix><pid>-<random>``; before
making one, :func:`scratch_dir` removes every folder of :data:`PREFIXES` whose process is gone (a
``floe init`` or ``floe update`` killed with SIGKILL cannot clean up after itself).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["PREFIXES", "scratch_dir", "sweep"]

#: Every kind of scratch folder floe makes; each is swept whenever any is made.
PREFIXES = ("floe-render-", "floe-update-", "floe-copier-cache-", "floe-template-draft-")


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A fresh folder ``<tmp>/<prefix><pid>-…`` for the block, removed after it."""
    for known in PREFIXES:
        sweep(known)
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def sweep(prefix: str) -> list[Path]:
    """Remove the folders of ``prefix`` left by processes that no longer run; the ones removed."""
    removed = []
    with contextlib.suppress(OSError):
        for entry in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
            pid = entry.name[len(prefix) :].split("-", 1)[0]
            if pid.isdigit() and not _alive(int(pid)) and entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
