"""Placing rendered files into the destination all-or-nothing."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from floe_scaffold.errors import SystemFailureError

__all__ = ["Placement", "place_files", "plan_placement"]


@dataclass(frozen=True)
class Placement:
    """What placing a render would do to the destination."""

    created: tuple[str, ...]
    changed: tuple[str, ...]
    unchanged: tuple[str, ...]


def plan_placement(files: Mapping[str, bytes], dest: Path) -> Placement:
    """Compare the rendered files with what ``dest`` holds."""
    created, changed, unchanged = [], [], []
    for name, content in files.items():
        target = dest / name
        if not target.exists():
            created.append(name)
        elif target.is_file() and target.read_bytes() == content:
            unchanged.append(name)
        else:
            changed.append(name)
    return Placement(tuple(created), tuple(changed), tuple(unchanged))


def place_files(files: Mapping[str, bytes], dest: Path, placement: Placement) -> None:
    """Write created and changed files; on any failure, put ``dest`` back as it was.

    Each file is written to a temporary name beside its target and renamed over it, so no file
    is ever half-written; files replaced so far are restored, and directories and files created
    so far are removed.
    """
    made_dirs: list[Path] = []
    written: list[str] = []
    backups: dict[str, bytes] = {}
    try:
        for name in (*placement.created, *placement.changed):
            target = dest / name
            _make_parents(target.parent, made_dirs)
            if target.is_file():
                backups[name] = target.read_bytes()
            _atomic_write(target, files[name])
            written.append(name)
    except OSError as error:
        _roll_back(dest, written, backups, made_dirs)
        where = error.filename or dest
        raise SystemFailureError(
            f"cannot write {where}: {error.strerror or error}; nothing was changed",
            source=dest,
        ) from None
    except BaseException:
        _roll_back(dest, written, backups, made_dirs)
        raise


def _make_parents(directory: Path, made: list[Path]) -> None:
    missing = []
    for parent in (directory, *directory.parents):
        if parent.exists():
            break
        missing.append(parent)
    for parent in reversed(missing):
        parent.mkdir()
        made.append(parent)


def _atomic_write(target: Path, content: bytes) -> None:
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        # mkstemp makes the file 0600; a generated file gets what `open` would give it.
        os.fchmod(descriptor, 0o666 & ~_umask())
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process umask (reading it means setting it: it is put back at once)."""
    current = os.umask(0o022)
    os.umask(current)
    return current


def _roll_back(
    dest: Path, written: list[str], backups: dict[str, bytes], made_dirs: list[Path]
) -> None:
    for name in reversed(written):
        target = dest / name
        if name in backups:
            target.write_bytes(backups[name])
        else:
            target.unlink(missing_ok=True)
    for directory in reversed(made_dirs):
        with contextlib.suppress(OSError):
            directory.rmdir()
