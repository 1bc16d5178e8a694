"""Applying an update to a work tree all-or-nothing, through a journal kept under ``.git/``.

An update is a list of :class:`FileOp` (write these bytes at this path, or delete it) and, for
conflicts, unmerged index entries. :func:`apply_journaled` makes it happen so that a failure or a
kill at any instant leaves either the tree as it was or the whole update:

1. **prepare** (the work tree is not touched): in ``<git dir>/floe-update/`` every new file's
   bytes are staged and every file the update replaces or deletes is backed up; then
   ``journal.json``, which lists them, is written beside and renamed into place. Until that
   rename a kill leaves only a staging folder, which the next run removes.
2. **apply**: each new file is written beside its target (``.NAME.floe-update``) and renamed over
   it; deletions unlink; then the index entries are written: the update staged, its conflicts
   unmerged (``git update-index``, atomic through git's ``index.lock``; rolled back with ``git
   reset`` of the paths they name).
3. **commit**: ``journal.json`` is unlinked. That one unlink is the point after which the update
   is complete; the staging folder is removed after it.

A failure during 2 rolls back at once; a kill during 2 leaves ``journal.json``, and
:func:`recover` (which every later ``floe update``, ``floe run`` and ``floe dev`` in the project
call first, and ``floe update --recover`` alone) rolls the work tree and the index back from the
backups. Rolling back is idempotent, so a kill during it is recovered by running it again. A
file changed by hand since the interrupted update (neither its old nor its new content) is never
overwritten: recovery stops, names it, and keeps the journal.

Every file operation goes through :func:`_step`, which calls :data:`fault_hook` first: tests
inject a failure or a SIGKILL at each operation with it. Durability against a power cut is not
claimed (nothing is fsynced); a killed process and a failing operation are.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from floe_scaffold.errors import Issue, SystemFailureError, UpdateError

__all__ = [
    "JOURNAL_DIR",
    "FileOp",
    "apply_journaled",
    "fault_hook",
    "locked",
    "pending",
    "recover",
]

#: The folder, inside the repository's git directory, that holds an update in progress.
JOURNAL_DIR = "floe-update"
_JOURNAL = "journal.json"
_TEMP_SUFFIX = ".floe-update"

#: Called as ``fault_hook(operation, path)`` before every file operation (tests set it).
fault_hook: Callable[[str, Path], None] | None = None

#: Runs git in a directory with bytes on stdin and returns its stdout (raises on failure).
GitRunner = Callable[..., bytes]


@dataclass(frozen=True)
class FileOp:
    """One change to a file of the work tree: ``content`` written with ``mode``, or deleted."""

    path: str  # relative to the work tree's top, POSIX
    content: bytes | None
    mode: int = 0o644


@contextlib.contextmanager
def locked(top: Path, git_dir: Path) -> Iterator[None]:
    """Hold the repository's update lock (``<git dir>/floe-update.lock``) for the block.

    One update (or recovery) at a time: a second one would take the first's journal for an
    interrupted one and roll it back under it. The lock dies with its process.

    Raises:
        SystemFailureError: another ``floe`` holds it (exit 2).

    """
    descriptor = os.open(git_dir / "floe-update.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SystemFailureError(
                f"another `floe update` is applying an update in {top} right now; wait for it "
                "to finish, then run this command again",
                source=top,
            ) from None
        yield
    finally:
        os.close(descriptor)


def pending(git_dir: Path) -> bool:
    """Whether an interrupted update's journal (or its staging leftovers) is in ``git_dir``."""
    return (git_dir / JOURNAL_DIR).exists()


def apply_journaled(
    top: Path,
    git_dir: Path,
    ops: Sequence[FileOp],
    index_info: str,
    git: GitRunner,
) -> None:
    """Apply ``ops`` to the work tree at ``top`` and ``index_info`` to its index; all or nothing.

    Raises:
        SystemFailureError: an operation failed; the work tree and index are as they were (or,
            if rolling back failed too, the journal is kept and the message says to run
            ``floe update --recover``).

    """
    folder = git_dir / JOURNAL_DIR
    entries = _prepare(top, folder, ops, index_info)
    try:
        for entry in entries:
            _apply_entry(top, folder, entry)
        if index_info:
            _step("update-index", top / ".git")
            git(top, "update-index", "--index-info", stdin=index_info.encode())
        _step("commit", folder / _JOURNAL)
        (folder / _JOURNAL).unlink()
    except BaseException as error:
        try:
            _roll_back(top, folder, git)
        except (OSError, SystemFailureError, UpdateError) as second:
            raise SystemFailureError(
                f"the update failed ({_reason(error)}) and rolling it back failed too "
                f"({_reason(second)}); run `floe update --recover` in {top} once the cause is "
                "fixed",
                source=top,
            ) from None
        if isinstance(error, OSError):
            raise SystemFailureError(
                f"cannot apply the update: {_reason(error)}; the project was left as it was",
                source=top,
            ) from None
        raise
    with contextlib.suppress(OSError):
        shutil.rmtree(folder)


def recover(top: Path, git_dir: Path, git: GitRunner) -> bool:
    """Roll back an update that was interrupted in ``top``; whether there was one.

    Raises:
        UpdateError: a file the update touched was changed since; nothing is overwritten.
        SystemFailureError: a file cannot be restored (the journal is kept: run it again).

    """
    folder = git_dir / JOURNAL_DIR
    if not folder.exists():
        return False
    if not (folder / _JOURNAL).exists():
        # killed while preparing, or after the commit point: the work tree was not touched
        # (or is complete); only the staging folder is left.
        _remove_tree(folder)
        return False
    try:
        _roll_back(top, folder, git)
    except OSError as error:
        raise SystemFailureError(
            f"cannot roll back the interrupted update: {_reason(error)}; fix that and run "
            f"`floe update --recover` in {top}",
            source=top,
        ) from None
    return True


# ---- preparing ----------------------------------------------------------------------------------


def _prepare(
    top: Path, folder: Path, ops: Sequence[FileOp], index_info: str
) -> list[dict[str, object]]:
    try:
        if folder.exists():
            _remove_tree(folder)
        _step("mkdir", folder)
        folder.mkdir()
        entries: list[dict[str, object]] = []
        for number, op in enumerate(ops):
            target = top / op.path
            entry: dict[str, object] = {"path": op.path, "mode": op.mode, "new": None}
            if op.content is not None:
                entry["new"] = f"new-{number}"
                _write_file(folder / f"new-{number}", op.content, 0o600)
            if target.is_file() and not target.is_symlink():
                entry["backup"] = f"old-{number}"
                entry["backup_mode"] = target.stat().st_mode & 0o777
                _write_file(folder / f"old-{number}", _read(target), 0o600)
            elif target.exists() or target.is_symlink():
                raise SystemFailureError(
                    f"{target}: is not a regular file; the update only replaces files",
                    source=target,
                )
            entry["dirs"] = [str(d.relative_to(top)) for d in _missing_parents(top, target)]
            entries.append(entry)
        unmerged = sorted({line.split("\t", 1)[1] for line in index_info.splitlines() if line})
        journal = {"version": 1, "entries": entries, "unmerged": unmerged}
        _write_file(folder / f"{_JOURNAL}.tmp", json.dumps(journal).encode(), 0o600)
        _step("rename", folder / _JOURNAL)
        (folder / f"{_JOURNAL}.tmp").replace(folder / _JOURNAL)
    except BaseException as error:
        with contextlib.suppress(OSError):
            _remove_tree(folder)
        if isinstance(error, OSError):
            raise SystemFailureError(
                f"cannot prepare the update: {_reason(error)}; the project was left as it was",
                source=top,
            ) from None
        raise
    return entries


def _missing_parents(top: Path, target: Path) -> list[Path]:
    missing = []
    for parent in target.parents:
        if parent == top or parent.exists():
            break
        missing.append(parent)
    return list(reversed(missing))


# ---- applying and rolling back ------------------------------------------------------------------


def _apply_entry(top: Path, folder: Path, entry: dict[str, object]) -> None:
    target = top / str(entry["path"])
    new = entry["new"]
    if new is None:
        if target.exists():
            _step("unlink", target)
            target.unlink()
        return
    for directory in entry["dirs"]:  # type: ignore[attr-defined]
        path = top / str(directory)
        if not path.is_dir():
            _step("mkdir", path)
            path.mkdir()
    _replace_with(target, _read(folder / str(new)), int(str(entry["mode"])))


def _roll_back(top: Path, folder: Path, git: GitRunner) -> None:
    journal = json.loads(_read(folder / _JOURNAL))
    entries: list[dict[str, object]] = journal["entries"]
    _check_untouched(top, folder, entries)
    for entry in reversed(entries):
        target = top / str(entry["path"])
        temporary = _temporary(target)
        if temporary.exists():
            _step("unlink", temporary)
            temporary.unlink()
        backup = entry.get("backup")
        if backup is not None:
            old = _read(folder / str(backup))
            if not (target.is_file() and _read(target) == old):
                _replace_with(target, old, int(str(entry["backup_mode"])))
        elif target.exists():
            _step("unlink", target)
            target.unlink()
        for directory in reversed(entry["dirs"]):  # type: ignore[call-overload]
            path = top / str(directory)
            if path.is_dir() and not any(path.iterdir()):
                _step("rmdir", path)
                path.rmdir()
    unmerged = [str(path) for path in journal.get("unmerged", [])]
    if unmerged:
        _step("reset", top / ".git")
        git(top, "reset", "-q", "--", *unmerged)
    _step("unlink", folder / _JOURNAL)
    (folder / _JOURNAL).unlink()
    with contextlib.suppress(OSError):
        shutil.rmtree(folder)


def _check_untouched(top: Path, folder: Path, entries: list[dict[str, object]]) -> None:
    """Refuse to roll back over a file that is neither what it was nor what the update wrote."""
    changed = []
    for entry in entries:
        target = top / str(entry["path"])
        if not target.exists():
            continue
        if not target.is_file():
            changed.append(str(entry["path"]))
            continue
        current = _read(target)
        known = [folder / str(entry[key]) for key in ("new", "backup") if entry.get(key)]
        if not any(current == _read(path) for path in known):
            changed.append(str(entry["path"]))
    if changed:
        raise UpdateError(
            [
                Issue(
                    name,
                    "was changed after an update was interrupted here; recovery would "
                    "overwrite it: save your change elsewhere, `git checkout -- "
                    f"{name}`, then run `floe update --recover`",
                )
                for name in changed
            ],
            source=top,
        )


def _replace_with(target: Path, content: bytes, mode: int) -> None:
    temporary = _temporary(target)
    _write_file(temporary, content, mode)
    _step("rename", target)
    temporary.replace(target)


def _temporary(target: Path) -> Path:
    return target.with_name(f".{target.name}{_TEMP_SUFFIX}")


def _write_file(path: Path, content: bytes, mode: int) -> None:
    _step("open", path)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(descriptor, mode)
        _step("write", path)
        view = memoryview(content)
        while view:
            view = view[os.write(descriptor, view) :]
    finally:
        os.close(descriptor)


def _read(path: Path) -> bytes:
    _step("read", path)
    return path.read_bytes()


def _remove_tree(folder: Path) -> None:
    _step("rmtree", folder)
    shutil.rmtree(folder)


def _step(operation: str, path: Path) -> None:
    if fault_hook is not None:
        fault_hook(operation, path)


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        return f"{where}{error.strerror or error}"
    if isinstance(error, SystemFailureError | UpdateError):
        return error.message
    return f"{type(error).__name__}: {error}"
