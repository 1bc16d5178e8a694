"""The local lineage log: JSON Lines, written whole-line, rotated, read back streaming.

Writing (:class:`EventLog`): each event is one line appended with a single ``write`` on a file
opened ``O_APPEND``; when the file does not end with a newline (a line torn by a full disk or a
killed process), the new line starts with one, so a torn line is never extended. Writers of
several processes take an exclusive lock on ``<log>.lock`` around that check, the write and the
rotation. When a line would take the file past :data:`MAX_BYTES`, the file is rotated first:
``events.jsonl`` becomes ``events.jsonl.1``, ``.1`` becomes ``.2`` and so on; at most
:data:`KEEP` rotated files are kept (the oldest is removed).

Reading (:func:`log_files`, :class:`LogReader`): the rotated files oldest first, then the live
file, line by line (never the whole file in memory). A line that is not a JSON object with an
``eventType`` (torn, empty of sense, a partial last line still being written, or longer than
:data:`MAX_LINE`) is skipped and counted; reading never fails on content.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["KEEP", "MAX_BYTES", "MAX_LINE", "EventLog", "LogLine", "LogReader", "log_files"]

#: Size at which the live log is rotated (bytes): 32 MiB.
MAX_BYTES = 32 * 1024 * 1024
#: A line longer than this (bytes) is skipped, never held in memory whole: 16 MiB.
MAX_LINE = 16 * 1024 * 1024
#: How many rotated files are kept beside the live one (``events.jsonl.1`` … ``.5``).
KEEP = 5

try:  # POSIX: writers of several processes serialize on a lock file.
    import fcntl as _fcntl
except ImportError:  # pragma: no cover - Windows: one process's threads only
    _fcntl = None  # type: ignore[assignment]
fcntl: Any = _fcntl


class EventLog:
    """Appends complete lines to a JSON Lines log, rotating it (see the module docstring)."""

    def __init__(self, path: Path, *, max_bytes: int = MAX_BYTES, keep: int = KEEP) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.keep = keep
        self._lock = threading.Lock()

    def append(self, text: str) -> None:
        """Write ``text`` (one JSON document, no newline in it) as one line; raises OSError."""
        line = text.replace("\n", " ").encode("utf-8") + b"\n"
        if len(line) > MAX_LINE:
            message = f"an event of {len(line)} bytes is over the log's line limit of {MAX_LINE}"
            raise ValueError(message)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, self._process_lock():
            size = self._size()
            if size and size + len(line) > self.max_bytes:
                self._rotate()
                size = 0
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            try:
                if size and not _ends_with_newline(self.path):
                    line = b"\n" + line
                written = os.write(fd, line)
                if written != len(line):  # a full disk mid-write: end the torn line here
                    raise OSError(28, "No space left on device (short write)", str(self.path))
            finally:
                os.close(fd)

    def _size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def _rotate(self) -> None:
        oldest = _rotated(self.path, self.keep)
        oldest.unlink(missing_ok=True)
        for number in range(self.keep - 1, 0, -1):
            source = _rotated(self.path, number)
            if source.exists():
                source.replace(_rotated(self.path, number + 1))
        if self.keep > 0:
            self.path.replace(_rotated(self.path, 1))
        else:
            self.path.unlink(missing_ok=True)

    def _process_lock(self) -> _FileLock:
        return _FileLock(self.path.with_name(self.path.name + ".lock"))


class _FileLock:
    """An exclusive ``flock`` on a lock file (a no-op where ``fcntl`` is missing)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    def __enter__(self) -> None:
        if fcntl is None:  # pragma: no cover
            return
        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o666)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *_: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def _rotated(path: Path, number: int) -> Path:
    return path.with_name(f"{path.name}.{number}")


def log_files(path: Path, keep: int = KEEP) -> list[Path]:
    """The files of the log at ``path`` that exist, oldest first (rotated ones, then ``path``)."""
    found = [_rotated(path, number) for number in range(keep, 0, -1)]
    return [file for file in [*found, path] if file.is_file()]


@dataclass(frozen=True)
class LogLine:
    """One event of the log: the parsed event and a digest of its line (its identity)."""

    event: dict[str, Any]
    digest: str


class LogReader:
    """Streams the events of a log (rotated files first); counts what it skipped."""

    def __init__(self, path: Path, keep: int = KEEP, max_line: int = MAX_LINE) -> None:
        self.path = path
        self.keep = keep
        self.max_line = max_line
        #: Lines that were not an OpenLineage event (torn, not JSON, not an object).
        self.skipped = 0
        #: Events read so far.
        self.read = 0

    def __iter__(self) -> Iterator[LogLine]:
        for file in log_files(self.path, self.keep):
            try:
                handle = file.open("rb")
            except OSError:
                continue  # rotated away between listing and opening
            with handle:
                for raw in _lines(handle, self.max_line):
                    parsed = _parse(raw)
                    if parsed is None:
                        if raw.strip():
                            self.skipped += 1
                        continue
                    self.read += 1
                    yield LogLine(parsed, hashlib.sha256(raw.rstrip(b"\r\n")).hexdigest())

    def events(self) -> Iterator[dict[str, Any]]:
        """Just the events, in order."""
        for line in self:
            yield line.event


def _lines(handle: BinaryIO, limit: int) -> Iterator[bytes]:
    """The file's lines; one longer than ``limit`` bytes is replaced by a line no parse accepts."""
    while True:
        raw = handle.readline(limit)
        if not raw:
            return
        if len(raw) == limit and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):  # drop the rest of the line, bounded reads
                raw = handle.readline(limit)
            yield b"\x00 a line over the size limit"
            continue
        yield raw


def _parse(raw: bytes) -> dict[str, Any] | None:
    if not raw.endswith(b"\n") and not raw.rstrip().endswith(b"}"):
        return None  # a line still being written, or torn
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("eventType"), str):
        return None
    if not isinstance(value.get("job"), dict) or not isinstance(value.get("run"), dict):
        return None
    return value
