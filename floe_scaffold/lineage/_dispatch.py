"""Sending events off the run's thread, never failing and never holding a run.

One worker thread per process sends events in order. The first failure (refused, hanging past
the timeout, an HTTP error, an unknown host) logs one warning naming the endpoint and opens a
per-process circuit breaker: later events are dropped, so a process pays at most one timeout.
At the end of a run, :meth:`Dispatcher.flush` waits for the queue a bounded time. The warning
names the endpoint by a label without credentials, and every known secret is scrubbed from the
error text (a URL's password or API key must never reach a log line).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["Dispatcher"]

logger = logging.getLogger("floe_scaffold.lineage")


class Dispatcher:
    """Sends events with ``send`` on a daemon thread; see the module docstring."""

    def __init__(
        self, send: Callable[[Any], None], label: str, *, secrets: Iterable[str] = ()
    ) -> None:
        self._send = send
        self._label = label
        # Longest first, so that a secret containing another is scrubbed whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=10_000)
        self._broken = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self.sent = 0
        self.dropped = 0
        self.sent_at: list[float] = []
        self._thread = threading.Thread(target=self._work, name="floe-lineage", daemon=True)
        self._thread.start()

    @property
    def broken(self) -> bool:
        """Whether the breaker is open (the endpoint failed once; events are dropped)."""
        return self._broken.is_set()

    def submit(self, event: Any) -> None:
        """Queue ``event``; never blocks, never raises."""
        if self._broken.is_set():
            self.dropped += 1
            return
        self._idle.clear()
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.dropped += 1

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for queued events; True when all were handled."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            self._idle.wait(min(0.05, max(0.0, deadline - time.monotonic())))
        return self._queue.unfinished_tasks == 0

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _work(self) -> None:
        while True:
            event = self._queue.get()
            try:
                if self._broken.is_set():
                    self.dropped += 1
                    continue
                self._send(event)
                self.sent += 1
                self.sent_at.append(time.time())
            except Exception as error:  # noqa: BLE001 - any failure of the endpoint is absorbed
                self._broken.set()
                self.dropped += 1
                logger.warning(
                    "OpenLineage endpoint %s failed (%s: %s); lineage events of this process "
                    "are dropped, the run goes on",
                    self._label,
                    type(error).__name__,
                    self._scrub(str(error))[:300],
                )
            finally:
                self._queue.task_done()
                if self._queue.unfinished_tasks == 0:
                    self._idle.set()
