"""A per-process circuit breaker around an OTLP span exporter.

The first failed export (refused, reset, garbage, an HTTP or gRPC error, a timeout) logs one
warning naming the endpoint and opens the breaker: every later batch is dropped at once, with no
connection attempt, so a down collector costs a process one export at most, as a down lineage
endpoint does (``floe_scaffold.lineage._dispatch``). Exports run on the batch processor's
thread, never on the run's.

An export that outlives its own timeout is *stuck* (a collector dripping its answer keeps every
per-read timeout from firing): :attr:`GuardedExporter.stuck` tells the exit hook not to wait for
it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

__all__ = ["Breaker", "GuardedExporter"]

logger = logging.getLogger("floe_scaffold.tracing")


class Breaker:
    """One export at a time to one endpoint, and a breaker that opens on the first failure.

    Shared by spans (:class:`GuardedExporter`) and metrics (``_meter.Meter``); ``_WARNING`` is
    the one warning logged when the breaker opens (``%s``: the endpoint, then what happened).
    """

    _WARNING = "OTLP endpoint %s %s; spans of this process are dropped, the run goes on"

    def __init__(self, label: str, timeout: float) -> None:
        #: The endpoint, safe to log (no credentials).
        self.label = label
        self._timeout = timeout
        self._broken = threading.Event()
        self._once = threading.Lock()
        self._since: float | None = None
        #: Exports handed to the exporter (one per batch or step until the breaker opens).
        self.attempts = 0
        #: What was dropped because the breaker was open or an export failed.
        self.dropped = 0

    @property
    def broken(self) -> bool:
        """Whether the breaker is open (an export failed; later ones are dropped)."""
        return self._broken.is_set()

    @property
    def busy_for(self) -> float | None:
        """Seconds the export in progress has taken so far, or None when none is."""
        since = self._since
        return None if since is None else time.monotonic() - since

    @property
    def stuck(self) -> bool:
        """Whether an export has been in progress longer than its timeout."""
        busy = self.busy_for
        return busy is not None and busy > self._timeout

    def abandon(self) -> None:
        """Give up on the export in progress (the process is leaving without it)."""
        self._open(f"has not answered an export for {self.busy_for or 0.0:.1f} s")

    def _open(self, what: str) -> None:
        """Open the breaker; the first caller logs the one warning."""
        if not self._once.acquire(blocking=False):
            return
        self._broken.set()
        logger.warning(self._WARNING, self.label, what)


class GuardedExporter(Breaker, SpanExporter):
    """Exports through ``inner`` until its first failure; see the module docstring."""

    def __init__(self, inner: SpanExporter, label: str, timeout: float) -> None:
        super().__init__(label, timeout)
        self._inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Export ``spans``, or drop them when the breaker is open; never raises."""
        if self._broken.is_set():
            self.dropped += len(spans)
            return SpanExportResult.FAILURE
        self.attempts += 1
        self._since = time.monotonic()
        why = "the exporter logged why"
        try:
            result = self._inner.export(spans)
        except Exception as error:  # noqa: BLE001 - an exporter's bug must not reach the run
            why = f"the exporter raised {type(error).__name__}"
            result = SpanExportResult.FAILURE
        finally:
            self._since = None
        if result is not SpanExportResult.SUCCESS:
            self.dropped += len(spans)
            self._open(f"failed ({why})")
        return result

    def shutdown(self) -> None:
        """Shut the wrapped exporter down."""
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is buffered here; the wrapped exporter's answer."""
        return self._inner.force_flush(timeout_millis)
