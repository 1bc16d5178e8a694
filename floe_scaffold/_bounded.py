"""Reading an input file with a bound: a regular file, at most so many bytes, never a hang.

``floe`` reads the contract and its own project files (``.copier-answers.yml``) through
:func:`read_bounded`. A FIFO, a device, a socket or a directory is refused before it is read
(opening a FIFO would wait for a writer; ``/dev/zero`` never ends), and so is a file larger than
the limit, whatever its ``stat`` said (it is read with the limit, plus one byte to tell).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = [
    "MAX_CONTRACT_BYTES",
    "MAX_PROJECT_FILE",
    "NotARegularFileError",
    "read_bounded",
    "read_config_text",
]

#: The largest CompiledArtifacts file floe reads (a real one is a few kilobytes).
MAX_CONTRACT_BYTES = 4 * 1024 * 1024
#: The largest project file floe reads itself (``.copier-answers.yml`` holds the contract too).
MAX_PROJECT_FILE = 2 * MAX_CONTRACT_BYTES + 1024 * 1024


class NotARegularFileError(OSError):
    """The path is not a regular file, or it is larger than allowed (``strerror`` says which)."""


def read_bounded(path: Path, limit: int) -> bytes:
    """The bytes of the regular file ``path``, refused when it holds more than ``limit``.

    Raises:
        NotARegularFileError: a directory, FIFO, device or socket, or more than ``limit`` bytes.
        OSError: the file cannot be opened or read (missing, permissions, a name too long).

    """
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused just below).
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except IsADirectoryError:
        raise NotARegularFileError(21, "is a directory, not a file", str(path)) from None
    try:
        kind = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(kind):
            raise NotARegularFileError(22, f"is {_kind(kind)}, not a regular file", str(path))
        os.set_blocking(descriptor, True)
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(descriptor, min(1024 * 1024, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(descriptor)
    if size > limit:
        raise NotARegularFileError(
            27, f"is larger than {limit // 1024} KiB, the most floe reads", str(path)
        )
    return b"".join(chunks)


def read_config_text(path: Path) -> str:
    """A project configuration file, read with :data:`MAX_PROJECT_FILE` and decoded as UTF-8.

    For ``profiles.yml``, ``dbt_project.yml``, ``packages.yml`` (never the manifest, which grows
    with the project and is dbt's own output).

    Raises:
        OSError: as :func:`read_bounded`.
        UnicodeDecodeError: the file is not UTF-8.

    """
    return read_bounded(path, MAX_PROJECT_FILE).decode("utf-8")


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"
