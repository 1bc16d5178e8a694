"""One dbt invocation, observed: dagster-dbt's events, plus spans, metrics, lineage, log lines.

Each structured dbt event goes, in this order, to the span recorder (so a node's span exists
first), to the lineage recorder (whose events then carry the span's ids, and whose node run id
the span carries back), then to dagster-dbt, which turns it into Dagster events. A log line per
finished node is written inside that node's span, with its trace, span and OpenLineage run ids.
Metrics see every raw event too (after spans and lineage, which the run's log lines wait for),
and are exported once when the invocation ends, in the background.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from dagster import AssetExecutionContext
from opentelemetry import trace

from floe_scaffold.lineage._recorder import LineageRecorder
from floe_scaffold.tracing import RUN_LOGGER, SpanRecorder, TraceContextFilter, ids

if TYPE_CHECKING:
    from floe_scaffold.tracing._metrics import MetricsRecorder

__all__ = ["observed_stream"]

_RESULT_EVENTS = {"LogSeedResult", "LogModelResult", "LogSnapshotResult", "LogTestResult"}
_FAILED = {"error", "fail", "runtime error"}
#: How long a finished run waits for its lineage events while none of them goes out (the HTTP
#: endpoint's default timeout: a healthy send on a loaded machine can take that long). A broken
#: endpoint adds nothing: its breaker is open.
FLUSH_SECONDS = 2.0
#: How long a finished run waits at most for lineage events that keep going out.
FLUSH_LIMIT_SECONDS = 10.0

logger = logging.getLogger(RUN_LOGGER)
logger.addFilter(TraceContextFilter())


def observed_stream(
    invocation: Any,
    context: AssetExecutionContext,
    *,
    command: str,
    spans: SpanRecorder | None,
    lineage: LineageRecorder | None,
    metrics: MetricsRecorder | None = None,
) -> Iterator[Any]:
    """dagster-dbt's event stream, observed; see the module docstring."""
    if spans is not None:
        spans.start(command)
    if metrics is not None:
        metrics.start(command)
    step = spans.step_span if spans is not None else None
    if lineage is not None:
        lineage.start(invocation.target_path, ids(step) if step is not None else None)
    error: BaseException | None = None
    try:
        for event in invocation.stream_raw_events():
            _observe(event.raw_event, context, spans, lineage)
            if metrics is not None:
                metrics.on_dbt_event(event.raw_event)
            yield from event.to_default_asset_events(
                manifest=invocation.manifest,
                dagster_dbt_translator=invocation.dagster_dbt_translator,
                context=context,
                target_path=invocation.target_path,
                project=invocation.project,
            )
    except BaseException as failure:
        error = failure
        raise
    finally:
        if lineage is not None:
            lineage.finish(
                success=error is None,
                message=None if error is None else (str(error) or type(error).__name__),
            )
        if spans is not None:
            spans.finish(error=error)
        if metrics is not None:
            metrics.finish(error=error)
        if lineage is not None:
            lineage.flush(FLUSH_LIMIT_SECONDS, idle=FLUSH_SECONDS)


def _observe(
    raw: Any,
    context: AssetExecutionContext,
    spans: SpanRecorder | None,
    lineage: LineageRecorder | None,
) -> None:
    name = raw.get("info", {}).get("name")
    info = raw.get("data", {}).get("node_info") or {}
    unique_id = str(info.get("unique_id") or "")
    if name == "LogStartLine":
        trace_ids = spans.on_dbt_event(raw) if spans is not None else None
        if lineage is not None:
            lineage.on_dbt_event(raw, trace_ids)
            span = spans.node_span(unique_id) if spans is not None else None
            run_id = lineage.node_run_id(unique_id)
            if span is not None and run_id is not None:
                span.set_attribute("openlineage.run_id", run_id)
                span.set_attribute("openlineage.namespace", lineage.target.namespace)
        return
    if name == "SkippingDetails":  # a skipped data test is a failed assertion for dbt-ol
        if lineage is not None:
            lineage.on_dbt_event(raw)
        return
    if name not in _RESULT_EVENTS:
        return
    span = spans.node_span(unique_id) if spans is not None else None
    status = str(info.get("node_status") or "").lower()
    message = None
    if status in _FAILED and lineage is not None:
        message = lineage.failure_message(unique_id, raw)
    if lineage is not None:
        lineage.on_dbt_event(raw, ids(span) if span is not None else None)
    if span is None:
        return
    if message is not None and spans is not None:
        spans.record_failure(unique_id, message)
    run_id = lineage.node_run_id(unique_id) if lineage is not None else None
    trace_id, span_id = ids(span)
    with trace.use_span(span, end_on_exit=False):
        logger.info(
            "%s %s",
            info.get("node_name") or unique_id,
            status,
            extra={"dbt_unique_id": unique_id, "openlineage_run_id": run_id},
        )
    context.log.info(
        f"{info.get('node_name') or unique_id}: {status} "
        f"(trace_id={trace_id} span_id={span_id} openlineage_run_id={run_id})"
    )
    if spans is not None:
        spans.on_dbt_event(raw)
