"""Sending events off the run's thread, never failing and never holding a run.

One worker thread per process sends events in order. The first failure (refused, hanging past
the timeout, an HTTP error, an unknown host) logs one warning naming the endpoint and opens a
per-process circuit breaker: later events are dropped, so a process pays at most one timeout.
A send still in progress past ``stuck_after`` seconds (an endpoint dripping its answer keeps
every per-read timeout from firing) counts as a failure too, as soon as anyone looks: a later
:meth:`Dispatcher.submit` or :meth:`Dispatcher.flush`. At the end of a run,
:meth:`Dispatcher.flush` waits for the queue while sends keep finishing (a loaded machine can
take seconds to drain a healthy queue; a fixed wait lost the last model's events), up to a
bound, and not at all for a stuck send or an open breaker.
The queue is bounded (:data:`QUEUE_SIZE` events): an endpoint slower than the run, on a run big
enough to get that far ahead of it, loses the events that find the queue full, and the first such
loss logs one warning that says so and how to avoid it (the events go on to the endpoint that keeps
up: the local log, or a collector beside the run).
The warning names the endpoint by a label without credentials, and every known secret is
scrubbed from the error text (a URL's password or API key must never reach a log line).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["FLUSH_LIMIT_SECONDS", "FLUSH_SECONDS", "QUEUE_SIZE", "Dispatcher"]

logger = logging.getLogger("floe_scaffold.lineage")

#: Events a dispatcher holds for its endpoint; past it, events are dropped (one warning).
QUEUE_SIZE = 10_000
#: How long a finished run waits for its lineage events while none of them goes out (the HTTP
#: endpoint's default timeout: a healthy send on a loaded machine can take that long). A broken
#: endpoint adds nothing: its breaker is open.
FLUSH_SECONDS = 2.0
#: How long a finished run waits at most for lineage events that keep going out.
FLUSH_LIMIT_SECONDS = 10.0


class Dispatcher:
    """Sends events with ``send`` on a daemon thread; see the module docstring."""

    def __init__(
        self,
        send: Callable[[Any], None],
        label: str,
        *,
        secrets: Iterable[str] = (),
        stuck_after: float | None = None,
    ) -> None:
        self._send = send
        self._label = label
        # Longest first, so that a secret containing another is scrubbed whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._stuck_after = stuck_after
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_SIZE)
        self._overflowed = threading.Lock()  # taken by the first overflow, which warns
        self._broken = threading.Event()
        self._warned = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._since: float | None = None
        self._handled = 0  # events sent or dropped by the worker; flush watches it move
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
        if self._broken.is_set() or self._stuck():
            self.dropped += 1
            return
        self._idle.clear()
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.dropped += 1
            if self._overflowed.acquire(blocking=False):
                logger.warning(
                    "OpenLineage endpoint %s is %d events behind the run: events are dropped "
                    "until it catches up. Send lineage to the local log (the default) or a "
                    "collector beside the run, and replay the log with `floe lineage --send`",
                    self._label,
                    QUEUE_SIZE,
                )

    def flush(self, timeout: float, *, idle: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for queued events; True when all were handled.

        With ``idle``, gives up sooner once no event was handled for ``idle`` seconds. Returns
        early when a send is stuck (see the module docstring): its events would not go.
        """
        started = time.monotonic()
        deadline = started + timeout
        handled, progressed = self._handled, started
        while (now := time.monotonic()) < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            if self._stuck():
                break
            if self._handled != handled:
                handled, progressed = self._handled, now
            elif idle is not None and now - progressed >= idle:
                break
            self._idle.wait(min(0.05, max(0.0, deadline - now)))
        return self._queue.unfinished_tasks == 0

    def _stuck(self) -> bool:
        """Whether the send in progress outlived ``stuck_after``; if so, open the breaker."""
        since = self._since
        if self._stuck_after is None or since is None:
            return False
        held = time.monotonic() - since
        if held <= self._stuck_after:
            return False
        self._fail(f"no answer after {held:.1f} s, past the {self._stuck_after:g} s timeout")
        return True

    def _fail(self, reason: str) -> None:
        """Open the breaker; the first caller logs the one warning."""
        if not self._warned.acquire(blocking=False):
            return
        self._broken.set()
        logger.warning(
            "OpenLineage endpoint %s failed (%s); lineage events of this process are dropped, "
            "the run goes on",
            self._label,
            self._scrub(reason)[:300],
        )

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
                self._since = time.monotonic()
                self._send(event)
                self.sent += 1
                self.sent_at.append(time.time())
            except Exception as error:  # noqa: BLE001 - any failure of the endpoint is absorbed
                self.dropped += 1
                self._fail(f"{type(error).__name__}: {error}")
            finally:
                self._since = None
                self._handled += 1
                self._queue.task_done()
                if self._queue.unfinished_tasks == 0:
                    self._idle.set()
