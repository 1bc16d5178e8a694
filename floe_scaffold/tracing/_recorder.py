"""A span per asset materialization, children of a span for the dbt step (FR-016…FR-018).

Spans follow dbt's own event stream: a node's span starts when dbt starts the node and ends when
dbt reports its result, with dbt's timestamps, so its duration is the node's. A failed node's
span records dbt's error as an exception event and ERROR status.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from floe_scaffold._dbt_results import reported_rows
from floe_scaffold.tracing._config import TracingTarget
from floe_scaffold.tracing._provider import provider_for

__all__ = ["SpanRecorder", "TraceIds"]

_MATERIALIZED = {"model", "seed", "snapshot"}
_RESULT_EVENTS = {"LogSeedResult", "LogModelResult", "LogSnapshotResult"}
_FAILED = {"error", "fail", "runtime error"}
TraceIds = tuple[str, str]


def _nanos(value: str | None) -> int | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value.rstrip("Z"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return int(parsed.timestamp() * 1_000_000_000)


def ids(span: Span) -> TraceIds:
    """``(trace_id, span_id)`` of a span as 32 and 16 hex digits."""
    context = span.get_span_context()
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


class SpanRecorder:
    """Spans of one dbt invocation; see the module docstring."""

    def __init__(
        self,
        target: TracingTarget,
        *,
        manifest: Mapping[str, Any],
        compute_target: str,
        dagster_run_id: str,
        dagster_job: str,
        asset_key_of: Callable[[Mapping[str, Any]], str],
    ) -> None:
        self._provider = provider_for(target)
        self._tracer = self._provider.get_tracer("floe_scaffold")
        self._nodes: Mapping[str, Any] = manifest.get("nodes", {})
        self._project = str(manifest.get("metadata", {}).get("project_name") or "dbt")
        self._compute_target = compute_target
        self._run_id = dagster_run_id
        self._job = dagster_job
        self._asset_key_of = asset_key_of
        self._spans: dict[str, Span] = {}
        self._step: Span | None = None
        self.materializations = 0

    def start(self, command: str) -> None:
        """Open the span of the dbt step (the parent of every node span)."""
        self._step = self._tracer.start_span(
            f"dbt {command} {self._project}",
            kind=SpanKind.INTERNAL,
            attributes={
                "dagster.run_id": self._run_id,
                "dagster.job_name": self._job,
                "dbt.project": self._project,
                "dbt.command": command,
                "floe.compute_target": self._compute_target,
            },
        )

    @property
    def step_span(self) -> Span | None:
        """The dbt step's span, while open."""
        return self._step

    def node_span(self, unique_id: str) -> Span | None:
        """The open span of a node, if it is running."""
        return self._spans.get(unique_id)

    def on_dbt_event(self, raw: Mapping[str, Any]) -> TraceIds | None:
        """Start or end a node's span; returns its ids (for lineage), or None."""
        name = raw.get("info", {}).get("name")
        data = raw.get("data", {})
        info = data.get("node_info") or {}
        unique_id = str(info.get("unique_id") or "")
        node = self._nodes.get(unique_id)
        if node is None or node.get("resource_type") not in _MATERIALIZED or self._step is None:
            return None
        if name == "LogStartLine" and unique_id not in self._spans:
            asset = self._asset_key_of(node)
            span = self._tracer.start_span(
                f"materialize {asset}",
                context=trace.set_span_in_context(self._step),
                kind=SpanKind.INTERNAL,
                start_time=_nanos(info.get("node_started_at")),
                attributes={
                    "dagster.asset_key": asset,
                    "dagster.run_id": self._run_id,
                    "dbt.unique_id": unique_id,
                    "dbt.resource_type": str(node.get("resource_type")),
                    "dbt.materialized": str(info.get("materialized") or ""),
                    "floe.compute_target": self._compute_target,
                },
            )
            self._spans[unique_id] = span
            return ids(span)
        open_span = self._spans.get(unique_id)
        if name in _RESULT_EVENTS and open_span is not None:
            return self._end(unique_id, open_span, info, data)
        return None

    def record_failure(self, unique_id: str, message: str) -> None:
        """Attach dbt's error text to a node's span (called before its result ends it)."""
        span = self._spans.get(unique_id)
        if span is not None:
            span.add_event(
                "exception",
                {"exception.type": "DbtRuntimeError", "exception.message": message},
            )

    def _end(
        self, unique_id: str, span: Span, info: Mapping[str, Any], data: Mapping[str, Any]
    ) -> TraceIds:
        status = str(info.get("node_status") or data.get("status") or "").lower()
        span.set_attribute("floe.status", status)
        seconds = data.get("execution_time")
        if isinstance(seconds, int | float):
            span.set_attribute("dbt.execution_time_s", float(seconds))
        rows = reported_rows(data)
        if rows is not None:
            span.set_attribute("dbt.rows_affected", rows)
        if status in _FAILED:
            span.set_status(Status(StatusCode.ERROR, f"dbt reported {status}"))
        else:
            span.set_status(Status(StatusCode.OK))
            self.materializations += 1
        result = ids(span)
        span.end(end_time=_nanos(info.get("node_finished_at")))
        del self._spans[unique_id]
        return result

    def finish(self, *, error: BaseException | None) -> None:
        """Close the step span (and any node left open).

        Spans leave with the batch processor's schedule, and at the latest through the bounded
        exit hook (``_provider.shutdown_all``): a down collector costs a process one bounded wait,
        not one per step.
        """
        for span in self._spans.values():
            span.set_status(Status(StatusCode.ERROR, "dbt did not report a result"))
            span.end()
        self._spans.clear()
        if self._step is not None:
            if error is not None:
                self._step.record_exception(error)
                self._step.set_status(Status(StatusCode.ERROR, str(error)[:500]))
            else:
                self._step.set_status(Status(StatusCode.OK))
            self._step.set_attribute("floe.materializations", self.materializations)
            self._step.end()
            self._step = None
