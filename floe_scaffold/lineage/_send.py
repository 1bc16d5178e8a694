"""Replaying the local lineage log to an OpenLineage endpoint: in order, bounded, resumable.

Events go one at a time, in the log's order (rotated files first), through the same client
transport a run uses (``_transport``: HTTP with the timeout and no retries, or the user's
``openlineage.yml``). Each send has a deadline (``timeout`` plus a second): an endpoint that does
not answer by then, one that cannot be reached, and one that answers a server error (5xx, 408,
429) stop the replay at that event. An endpoint that refuses an event (another 4xx: the event is
not acceptable there) has it counted as refused, and the replay goes on.

What was delivered is remembered in a cursor file beside the log (``sent.json``), per endpoint
(its URL without credentials): the digest of the last event handled. The next replay to that
endpoint skips the log up to that event and sends only the rest; if the event is no longer in
the log (rotated away), everything in the log is newer and is sent.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from floe_scaffold.lineage._config import LineageTarget
from floe_scaffold.lineage._log import LogLine, LogReader

__all__ = ["CURSOR_NAME", "SendSummary", "send_log"]

#: The cursor file, beside the log.
CURSOR_NAME = "sent.json"
_RETRYABLE = {408, 425, 429}


@dataclass
class SendSummary:
    """The outcome of one replay."""

    endpoint: str
    sent: int = 0
    refused: int = 0
    skipped: int = 0
    already: int = 0
    left: int = 0
    stopped: str | None = None
    refusals: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Whether every event of the log has now arrived (none refused, none left)."""
        return self.stopped is None and self.refused == 0 and self.left == 0


class _Worker:
    """Sends on a daemon thread, so that a send stuck past its deadline can be abandoned."""

    def __init__(self, send: Callable[[Any], Any]) -> None:
        self._send = send
        self._jobs: queue.Queue[Any] = queue.Queue()
        self._results: queue.Queue[BaseException | None] = queue.Queue()
        threading.Thread(target=self._work, name="floe-lineage-send", daemon=True).start()

    def _work(self) -> None:
        while True:
            event = self._jobs.get()
            try:
                self._send(event)
            except Exception as error:  # noqa: BLE001 - reported to the caller
                self._results.put(error)
            else:
                self._results.put(None)

    def send(self, event: Any, deadline: float) -> BaseException | None:
        """The send's error (None when it arrived); raises TimeoutError past ``deadline`` s."""
        self._jobs.put(event)
        try:
            return self._results.get(timeout=deadline)
        except queue.Empty:
            raise TimeoutError from None


def send_log(
    log: Path,
    target: LineageTarget,
    transport: Any,
    *,
    timeout: float,
    on_progress: Callable[[SendSummary], None] | None = None,
) -> SendSummary:
    """Replay ``log`` through ``transport`` (its ``emit``); see the module docstring."""
    endpoint = target.label
    summary = SendSummary(endpoint)
    cursor_file = log.with_name(CURSOR_NAME)
    cursors = _read_cursors(cursor_file)
    total, start, summary.skipped = _scan(log, cursors.get(endpoint))
    summary.already = start
    reader = LogReader(log)
    worker = _Worker(transport.emit)
    for position, line in enumerate(reader):
        if position < start:
            continue
        if position >= total:
            break  # written after the replay started: the next one sends it
        try:
            error = worker.send(line.event, timeout + 1.0)
        except TimeoutError:
            summary.stopped = f"no answer within {timeout + 1.0:g} s"
            summary.left = total - position
            break
        if error is not None:
            status = _status(error)
            if status is not None and 400 <= status < 500 and status not in _RETRYABLE:
                summary.refused += 1
                summary.refusals.append(f"{_name(line)}: {_describe(error, target)}")
            else:
                summary.stopped = _describe(error, target)
                summary.left = total - position
                break
        else:
            summary.sent += 1
        cursors[endpoint] = line.digest
        _write_cursors(cursor_file, cursors)
        if on_progress is not None:
            on_progress(summary)
    return summary


def _scan(log: Path, last: str | None) -> tuple[int, int, int]:
    """The log's event count, how many come up to ``last`` (0 if absent), its skipped lines."""
    total, start = 0, 0
    reader = LogReader(log)
    for line in reader:
        total += 1
        if line.digest == last and not start:
            start = total
    return total, start, reader.skipped


def _name(line: LogLine) -> str:
    job = line.event.get("job") or {}
    return f"{line.event.get('eventType')} {job.get('name')}"


def _status(error: BaseException) -> int | None:
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _describe(error: BaseException, target: LineageTarget) -> str:
    status = _status(error)
    text = f"HTTP {status}" if status is not None else f"{type(error).__name__}: {error}"
    for secret in sorted(target.secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text[:300]


def _read_cursors(path: Path) -> dict[str, str]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    endpoints = document.get("endpoints") if isinstance(document, dict) else None
    if not isinstance(endpoints, dict):
        return {}
    return {str(k): str(v) for k, v in endpoints.items() if isinstance(v, str)}


def _write_cursors(path: Path, cursors: dict[str, str]) -> None:
    partial = path.with_name(f".{path.name}.partial")
    document = {"version": 1, "updated": time.time(), "endpoints": cursors}
    partial.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    partial.replace(path)
