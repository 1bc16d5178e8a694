"""A private MeterProvider per metrics target, exported once per dbt step, bounded like spans.

Nothing is exported while dbt runs: instruments aggregate in memory (an
:class:`InMemoryMetricReader`, no periodic exporter thread) and :meth:`Meter.export` hands what
was recorded to one daemon thread at the end of the step. The process's exit hook
(``_provider.shutdown_all``) waits for that export within the bound it keeps for spans. The
exporter is built as for spans: no retry with backoff (gRPC gets no retryable code, HTTP a
:class:`SingleAttemptSession`), and the first failure opens a per-process breaker with one
warning naming the endpoint; later exports of the process are dropped without a connection.
"""

from __future__ import annotations

import logging
import threading
import time
from urllib.parse import urlsplit

from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    MeterProvider,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    InMemoryMetricReader,
    MetricExporter,
    MetricExportResult,
    MetricsData,
)
from opentelemetry.sdk.resources import Resource

from floe_scaffold.tracing._config import MetricsTarget
from floe_scaffold.tracing._guard import Breaker
from floe_scaffold.tracing._provider import (
    _without_userinfo,
    grpc_endpoint,
    http_url,
    own_session,
    track_export,
)

__all__ = ["Meter", "meter_for", "meters"]

logger = logging.getLogger("floe_scaffold.tracing")
_meters: dict[tuple[object, ...], Meter] = {}
_lock = threading.Lock()


def _temporality(name: str) -> dict[type, AggregationTemporality]:
    """Counters and histograms per ``name``; up-down counters and gauges stay cumulative."""
    chosen = AggregationTemporality.DELTA if name == "delta" else AggregationTemporality.CUMULATIVE
    return {
        Counter: chosen,
        Histogram: chosen,
        ObservableCounter: chosen,
        UpDownCounter: AggregationTemporality.CUMULATIVE,
        ObservableUpDownCounter: AggregationTemporality.CUMULATIVE,
        ObservableGauge: AggregationTemporality.CUMULATIVE,
    }


def _exporter(target: MetricsTarget) -> MetricExporter:
    assert target.endpoint is not None  # noqa: S101 - only called when exporting
    temporality = _temporality(target.temporality)
    if target.protocol == "grpc":
        from grpc import StatusCode  # type: ignore[import-untyped]
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        endpoint = grpc_endpoint(target.endpoint)
        return OTLPMetricExporter(
            endpoint=endpoint,
            insecure=urlsplit(endpoint).scheme != "https",
            timeout=target.timeout,
            preferred_temporality=temporality,
            # No code is retried: OK never fails (an empty set would mean the default set).
            retryable_error_codes=frozenset({StatusCode.OK}),
        )
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
        OTLPMetricExporter as HttpMetricExporter,
    )

    from floe_scaffold.tracing._session import SingleAttemptSession

    mine = own_session("OTEL_PYTHON_EXPORTER_OTLP_HTTP_METRICS_CREDENTIAL_PROVIDER")
    return HttpMetricExporter(
        endpoint=http_url(target.endpoint, "/v1/metrics"),
        timeout=target.timeout,
        session=SingleAttemptSession() if mine else None,
        preferred_temporality=temporality,
    )


class Meter(Breaker):
    """The provider, reader and guarded exporter of one target; see the module docstring."""

    # Worded so it never reads "OTLP endpoint", the spans' warning.
    _WARNING = "OTLP metrics endpoint %s %s; metrics of this process are dropped, the run goes on"

    def __init__(self, target: MetricsTarget) -> None:
        assert target.endpoint is not None  # noqa: S101 - a Meter is made only to export
        super().__init__(_without_userinfo(target.endpoint)[0], target.timeout)
        self._reader = InMemoryMetricReader(preferred_temporality=_temporality(target.temporality))
        self.provider = MeterProvider(
            resource=Resource.create(target.resource),
            metric_readers=[self._reader],
            shutdown_on_exit=False,
        )
        self._exporter = _exporter(target)
        self._export_lock = threading.Lock()

    def export(self) -> threading.Thread | None:
        """Collect what was recorded and export it on a daemon thread (None: nothing to send)."""
        data = self._reader.get_metrics_data()
        if data is None or not any(
            scope.metrics for resource in data.resource_metrics for scope in resource.scope_metrics
        ):
            return None
        worker = threading.Thread(
            target=self._send, args=(data,), daemon=True, name="floe-otel-metrics"
        )
        worker.start()
        track_export(worker, self)
        return worker

    def _send(self, data: MetricsData) -> None:
        with self._export_lock:
            if self._broken.is_set():
                self.dropped += 1
                return
            self.attempts += 1
            self._since = time.monotonic()
            why = "the exporter logged why"
            try:
                result = self._exporter.export(data, timeout_millis=self._timeout * 1000)
            except Exception as error:  # noqa: BLE001 - an exporter's bug must not reach the run
                why = f"the exporter raised {type(error).__name__}"
                result = MetricExportResult.FAILURE
            finally:
                self._since = None
            if result is not MetricExportResult.SUCCESS:
                self.dropped += 1
                self._open(f"failed ({why})")


def meter_for(target: MetricsTarget) -> Meter:
    """The process's meter for ``target`` (which must export: see ``MetricsTarget.exports``)."""
    key = (
        target.endpoint,
        target.protocol,
        target.timeout,
        target.temporality,
        tuple(sorted(target.resource.items())),
    )
    with _lock:
        known = _meters.get(key)
        if known is None:
            known = _meters[key] = Meter(target)
        return known


def meters() -> list[Meter]:
    """The meters of this process (to see their breakers and attempts)."""
    with _lock:
        return list(_meters.values())
