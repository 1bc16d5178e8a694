"""dbt's own output, made readable: its lines kept, colour codes and Python tracebacks taken out.

dbt writes multi-line messages with ANSI colour codes, and for an unexpected exception (a
database file that cannot be opened, say) a Python traceback of 100 lines or more. floe shows
dbt's text as lines, never as one escaped string, and leaves the traceback out unless asked for
(``floe run --debug`` or ``FLOE_DEBUG``). Control characters other than the line breaks are
still escaped, so nothing dbt echoes from a model file can drive the terminal.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from typing import TextIO

__all__ = [
    "DEBUG_VARIABLE",
    "TRACEBACK_HINT",
    "CleanStream",
    "TracebackFilter",
    "debug_requested",
    "log_lines",
    "readable_lines",
    "strip_ansi",
    "without_tracebacks",
]

#: The environment variable that asks for tracebacks, like ``floe run --debug``.
DEBUG_VARIABLE = "FLOE_DEBUG"
#: Said once where a traceback was left out.
TRACEBACK_HINT = (
    "(a Python traceback was left out here: run `floe run --debug` or set FLOE_DEBUG=1 to see it)"
)

# CSI sequences (colours, cursor moves), OSC sequences (titles, links) and lone two-byte escapes.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
# The time dbt's text log puts before each line: `13:20:02  Running with dbt=...`.
_TIMESTAMP = re.compile(r"^\d\d:\d\d:\d\d(?:\.\d+)?  ")
_TRACEBACK_START = "Traceback (most recent call last):"
_CHAINING = (
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)


def debug_requested(flag: bool = False) -> bool:
    """True with ``flag`` (``--debug``), or when ``FLOE_DEBUG`` is set to anything but 0/false."""
    value = os.environ.get(DEBUG_VARIABLE, "").strip().lower()
    return flag or value not in {"", "0", "false", "no", "off"}


def strip_ansi(text: str) -> str:
    """``text`` without ANSI escape sequences (dbt colours its status words and summaries)."""
    return _ANSI.sub("", text)


def _escaped(line: str) -> str:
    if line.isprintable():
        return line
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in line)


def _plain(line: str) -> str:
    return _escaped(strip_ansi(line).expandtabs(4))


def readable_lines(text: str) -> list[str]:
    """``text`` as lines: ANSI removed, tabs expanded, any other control character escaped.

    Leading and trailing blank lines are dropped; blank lines inside are kept (dbt separates
    its messages with them).
    """
    lines = [_plain(line).rstrip() for line in text.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def log_lines(text: str) -> list[str]:
    """The text log ``dbt parse`` prints, as :func:`readable_lines`, without the times."""
    return [_TIMESTAMP.sub("", line) for line in readable_lines(text)]


class TracebackFilter:
    """Takes Python tracebacks out of a sequence of lines, however they are chunked.

    A traceback is ``Traceback (most recent call last):``, its indented frames, and the first
    line that is not indented (the exception); chained tracebacks and the blank lines between
    them go too. ``hidden`` says whether anything was taken out.
    """

    def __init__(self) -> None:
        self._inside = False
        self._after = False
        self.hidden = False

    def keep(self, line: str) -> bool:
        """Whether ``line`` (without its line break) is shown."""
        bare = strip_ansi(line).rstrip()
        if bare.lstrip() == _TRACEBACK_START:
            self._inside, self._after, self.hidden = True, False, True
            return False
        if self._inside:
            if bare and not bare[0].isspace():
                self._inside, self._after = False, True  # the exception line ends it
            return False
        if self._after:
            if not bare or bare in _CHAINING:
                return False
            self._after = False
        return True

    def lines(self, lines: Iterable[str]) -> Iterator[str]:
        """The lines of ``lines`` that are kept."""
        return (line for line in lines if self.keep(line))


def without_tracebacks(lines: Iterable[str]) -> list[str]:
    """``lines`` without Python tracebacks; :data:`TRACEBACK_HINT` ends them if one was cut."""
    tracebacks = TracebackFilter()
    kept = list(tracebacks.lines(lines))
    return [*kept, TRACEBACK_HINT] if tracebacks.hidden else kept


class CleanStream:
    """A text stream that writes dbt's output through to ``stream``, cleaned line by line.

    ANSI codes are stripped when ``stream`` is not a terminal; Python tracebacks are left out
    (with :data:`TRACEBACK_HINT` said once) unless ``tracebacks``. Stands in for
    ``sys.stdout`` while dagster-dbt re-prints dbt's messages.
    """

    def __init__(self, stream: TextIO, *, tracebacks: bool) -> None:
        self._stream = stream
        self._tracebacks = tracebacks
        self._colour = _is_terminal(stream)
        self._filter = TracebackFilter()
        self._hinted = False
        self._pending = ""

    @property
    def encoding(self) -> str:
        """The encoding of the wrapped stream."""
        return str(getattr(self._stream, "encoding", None) or "utf-8")

    def isatty(self) -> bool:
        """Whether the wrapped stream is a terminal (Rich and others ask)."""
        return self._colour

    def fileno(self) -> int:
        """The wrapped stream's file descriptor."""
        return self._stream.fileno()

    def writable(self) -> bool:
        """Always true."""
        return True

    def write(self, text: str) -> int:
        """Write the complete lines of ``text``; a partial last line waits for its end."""
        self._pending += text
        *complete, self._pending = self._pending.split("\n")
        for line in complete:
            self._emit(line)
        return len(text)

    def flush(self) -> None:
        """Flush the wrapped stream (a partial line stays pending until its line break)."""
        self._stream.flush()

    def close(self) -> None:
        """Write any partial line; the wrapped stream stays open."""
        if self._pending:
            line, self._pending = self._pending, ""
            self._emit(line)
        self._stream.flush()

    def _emit(self, line: str) -> None:
        if not self._tracebacks and not self._filter.keep(line):
            if self._filter.hidden and not self._hinted:
                self._hinted = True
                self._stream.write(TRACEBACK_HINT + "\n")
            return
        self._stream.write((line if self._colour else _plain(line)) + "\n")


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
