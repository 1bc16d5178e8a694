"""One dbt invocation, observed: dagster-dbt's events, plus spans, metrics, lineage, log lines.

Each structured dbt event goes, in this order, to the span recorder (so a node's span exists
first), to the lineage recorder (whose events then carry the span's ids, and whose node run id
the span carries back), then to dagster-dbt, which turns it into Dagster events. A log line per
finished node is written inside that node's span, with its trace, span and OpenLineage run ids.
Metrics see every raw event too (after spans and lineage, which the run's log lines wait for),
and are exported once when the invocation ends, in the background.

Column lineage is read from a model's compiled SQL when dbt reports it built (before lineage, so
its COMPLETE event carries the ``columnLineage`` facet), and its materialization carries the same
graph as ``dagster/column_lineage``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster import AssetExecutionContext
from opentelemetry import trace

from floe_scaffold._column_lineage import ColumnLineage, ColumnTracker, compiled_sql
from floe_scaffold.lineage._dispatch import FLUSH_LIMIT_SECONDS, FLUSH_SECONDS
from floe_scaffold.lineage._recorder import LineageRecorder
from floe_scaffold.tracing import RUN_LOGGER, SpanRecorder, TraceContextFilter, ids

if TYPE_CHECKING:
    from floe_scaffold.tracing._metrics import MetricsRecorder

__all__ = ["observed_stream"]

_RESULT_EVENTS = {"LogSeedResult", "LogModelResult", "LogSnapshotResult", "LogTestResult"}
_FAILED = {"error", "fail", "runtime error"}
#: The results after which a node's relation holds what its compiled SQL selects.
_BUILT_EVENTS = {"LogModelResult", "LogSnapshotResult"}
#: Dagster's metadata key for column lineage (the UI's column graph).
COLUMN_LINEAGE = "dagster/column_lineage"

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
    columns: ColumnTracker | None = None,
    asset_key_of: Callable[[Mapping[str, Any]], dg.AssetKey] | None = None,
) -> Iterator[Any]:
    """dagster-dbt's event stream, observed; see the module docstring.

    ``columns`` reads column lineage (``asset_key_of`` names its inputs as assets).
    """
    read_columns = _ColumnReader(columns, asset_key_of, invocation.target_path)
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
            read = read_columns.built(event.raw_event)
            _observe(event.raw_event, context, spans, lineage)
            if metrics is not None:
                metrics.on_dbt_event(event.raw_event)
            asset_events = event.to_default_asset_events(
                manifest=invocation.manifest,
                dagster_dbt_translator=invocation.dagster_dbt_translator,
                context=context,
                target_path=invocation.target_path,
                project=invocation.project,
            )
            yield from read_columns.annotated(asset_events, read)
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


class _ColumnReader:
    """Column lineage of the models and snapshots one invocation builds (off without a tracker)."""

    def __init__(
        self,
        columns: ColumnTracker | None,
        asset_key_of: Callable[[Mapping[str, Any]], dg.AssetKey] | None,
        target_path: Any,
    ) -> None:
        self._columns, self._asset_key_of = columns, asset_key_of
        self._target_path, self._since = target_path, time.time()

    def built(self, raw: Any) -> ColumnLineage | None:
        """The column lineage of the model or snapshot ``raw`` reports built, else None."""
        if self._columns is None or raw.get("info", {}).get("name") not in _BUILT_EVENTS:
            return None
        info = raw.get("data", {}).get("node_info") or {}
        if str(info.get("node_status") or "").lower() in _FAILED:
            return None
        unique_id = str(info.get("unique_id") or "")
        node = self._columns.node(unique_id)
        if node is None:
            return None
        sql = compiled_sql(node, self._target_path, self._since)
        return self._columns.record(unique_id, sql)

    def annotated(self, events: Iterator[Any], read: ColumnLineage | None) -> Iterator[Any]:
        """``events``, a materialization among them with ``dagster/column_lineage`` added."""
        if read is None or self._columns is None or self._asset_key_of is None:
            yield from events
            return
        deps: dict[str, list[dg.TableColumnDep]] = {}
        for column in read.columns:
            origins = read.inputs.get(column)
            nodes = [self._columns.node(one.node) if one.node else None for one in origins or ()]
            if origins is None or None in nodes:
                continue  # not traced, or read from a relation that is no asset
            deps[column] = [
                dg.TableColumnDep(self._asset_key_of(node), one.column)
                for node, one in zip(nodes, origins, strict=True)
                if node is not None
            ]
        for event in events:
            if deps and isinstance(event, (dg.Output, dg.AssetMaterialization)):
                lineage = dg.TableColumnLineage(deps_by_column=deps)
                event = event.with_metadata({**(event.metadata or {}), COLUMN_LINEAGE: lineage})
            yield event


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
