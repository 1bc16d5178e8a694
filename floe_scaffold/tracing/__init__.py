"""OpenTelemetry for dbt runs: a span per asset materialization, trace ids in logs, metrics.

See ``_config`` for where spans and metrics go, ``_metrics`` for the metrics of a run (imported
when a run starts: the metrics SDK is not loaded with the definitions), ``_meter`` for their
single export at the end of a step, ``_provider`` for the bounded export and shutdown (with
``_guard``, the per-process breaker, and ``_session``, no retry with backoff), and ``_logging``
for log correlation.
"""

from floe_scaffold.tracing._config import (
    MetricsTarget,
    TracingTarget,
    resolve_metrics,
    resolve_tracing,
)
from floe_scaffold.tracing._logging import RUN_LOGGER, JsonFormatter, TraceContextFilter
from floe_scaffold.tracing._provider import SHUTDOWN_SECONDS, provider_for, shutdown_all
from floe_scaffold.tracing._recorder import SpanRecorder, TraceIds, ids

__all__ = [
    "RUN_LOGGER",
    "SHUTDOWN_SECONDS",
    "JsonFormatter",
    "MetricsTarget",
    "SpanRecorder",
    "TraceContextFilter",
    "TraceIds",
    "TracingTarget",
    "ids",
    "provider_for",
    "resolve_metrics",
    "resolve_tracing",
    "shutdown_all",
]
