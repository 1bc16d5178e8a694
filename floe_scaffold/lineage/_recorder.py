"""Per-model lineage of one dbt invocation, driven by dbt's own event stream as it happens.

START is sent when dbt starts a node (``LogStartLine``), COMPLETE or FAIL when dbt reports its
result (``Log*Result``), so events follow state changes within milliseconds instead of being
rebuilt from a ``run_results.json`` that may be stale. dbt writes a failing node's message to its
debug log file before the result line, so FAIL carries dbt's own error text.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from openlineage.client.event_v2 import RunState
from openlineage.client.uuid import generate_new_uuid

from floe_scaffold.lineage._config import LineageTarget
from floe_scaffold.lineage._dispatch import Dispatcher
from floe_scaffold.lineage._events import PRODUCER, Parent, dataset, run_event, utc
from floe_scaffold.lineage._facets import TraceCorrelationRunFacet
from floe_scaffold.lineage._naming import dataset_name, dataset_namespace, node_job_name
from floe_scaffold.lineage._transport import dispatcher_for

__all__ = ["DagsterRun", "LineageRecorder"]

_RESULT_EVENTS = {"LogSeedResult", "LogModelResult", "LogSnapshotResult", "LogTestResult"}
_EXECUTED = {"model", "seed", "snapshot", "test"}
_FAILED = {"error", "fail", "runtime error"}
_ERROR_EVENTS = {"CatchableExceptionOnRun", "GenericExceptionOnRun", "NodeCompiling"}
#: dbt-ol's namespace for the orchestrator that runs dbt; the Dagster run is the root run.
DAGSTER_NAMESPACE = "dagster"


class DagsterRun:
    """The Dagster run a dbt invocation belongs to (the root of its lineage)."""

    def __init__(self, run_id: str, job_name: str) -> None:
        self.run_id, self.job_name = run_id, job_name

    @property
    def lineage_run_id(self) -> str:
        """Dagster run ids are UUIDs already; anything else is mapped to a stable UUID."""
        try:
            return str(uuid.UUID(self.run_id))
        except ValueError:
            return str(uuid.uuid5(uuid.NAMESPACE_URL, f"dagster-run:{self.run_id}"))


class _ErrorLog:
    """Reads dbt's JSON debug log incrementally for the error text of failed nodes."""

    def __init__(self, path: Path) -> None:
        self._path, self._offset = path, 0
        self.messages: dict[str, str] = {}

    def message_for(self, unique_id: str) -> str | None:
        if unique_id not in self.messages:
            self._read()
        return self.messages.get(unique_id)

    def _read(self) -> None:
        try:
            with self._path.open("rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except OSError:
            return
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        for line in complete.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            data = event.get("data", {})
            unique_id = (data.get("node_info") or {}).get("unique_id")
            text = data.get("exc") or data.get("msg")
            if unique_id and text and event.get("info", {}).get("name") in _ERROR_EVENTS:
                self.messages[unique_id] = str(text)


class LineageRecorder:
    """Turns one dbt invocation's events into OpenLineage events (FR-011…FR-015)."""

    def __init__(
        self,
        *,
        target: LineageTarget,
        manifest: Mapping[str, Any],
        profile_output: Mapping[str, Any],
        dbt_project_dir: Path,
        command: str,
        dagster_run: DagsterRun,
        classifications: Mapping[str, Mapping[str, Mapping[str, Any]]],
        run_facets: Mapping[str, Any] | None = None,
    ) -> None:
        self.target = target
        self._manifest = manifest
        self._adapter = str(manifest.get("metadata", {}).get("adapter_type") or "")
        self._project = str(manifest.get("metadata", {}).get("project_name") or "dbt")
        self._namespace = dataset_namespace(self._adapter, profile_output, dbt_project_dir)
        self._command = command
        self._classifications = classifications
        self._run_facets = dict(run_facets or {})
        self._nodes: dict[str, Any] = {**manifest.get("nodes", {}), **manifest.get("sources", {})}
        self._run_ids: dict[str, str] = {}
        self._errors: _ErrorLog | None = None
        self._target_path: Path | None = None
        self._invocation_trace: tuple[str, str] | None = None
        self._dispatcher: Dispatcher = dispatcher_for(target)
        self.run_id = str(generate_new_uuid())
        self.job_name = f"dbt-run-{self._project}"
        self._parent = Parent(
            self.run_id,
            target.namespace,
            self.job_name,
            root=(dagster_run.lineage_run_id, DAGSTER_NAMESPACE, dagster_run.job_name),
        )
        self._dagster_parent = Parent(
            dagster_run.lineage_run_id, DAGSTER_NAMESPACE, dagster_run.job_name
        )

    @property
    def dispatcher(self) -> Dispatcher:
        """The dispatcher the events go through (counts, breaker state)."""
        return self._dispatcher

    def node_run_id(self, unique_id: str) -> str | None:
        """The OpenLineage run id of a node started in this invocation."""
        return self._run_ids.get(unique_id)

    # -- the invocation ---------------------------------------------------------------------

    def start(self, target_path: Path | None, trace: tuple[str, str] | None = None) -> None:
        """Send START for the dbt invocation (the parent job of every node event)."""
        if target_path is not None:
            self._target_path = target_path
            self._errors = _ErrorLog(target_path / "dbt.log")
        self._invocation_trace = trace
        self._submit(
            RunState.START,
            self.run_id,
            self.job_name,
            utc(),
            parent=self._dagster_parent,
            trace=trace,
        )

    def finish(self, *, success: bool, message: str | None = None) -> None:
        """Send COMPLETE or FAIL for the dbt invocation."""
        state = RunState.COMPLETE if success else RunState.FAIL
        self._submit(
            state,
            self.run_id,
            self.job_name,
            utc(),
            parent=self._dagster_parent,
            error=None if success else (message or "dbt failed"),
            trace=self._invocation_trace,
        )

    def flush(self, timeout: float) -> bool:
        """Wait (bounded) until the events of this process were sent or given up."""
        return self._dispatcher.flush(timeout)

    # -- dbt's events -----------------------------------------------------------------------

    def on_dbt_event(self, raw: Mapping[str, Any], trace: tuple[str, str] | None = None) -> None:
        """Handle one structured dbt log event (never raises for an unexpected shape).

        ``trace`` is the node's span ``(trace_id, span_id)``, sent as ``traceCorrelation``.
        """
        name = raw.get("info", {}).get("name")
        node_info = raw.get("data", {}).get("node_info") or {}
        unique_id = str(node_info.get("unique_id") or "")
        node = self._nodes.get(unique_id)
        if node is None or node.get("resource_type") not in _EXECUTED:
            return
        if name == "LogStartLine" and unique_id not in self._run_ids:
            self._run_ids[unique_id] = str(generate_new_uuid())
            self._node_event(RunState.START, node, node_info.get("node_started_at"), trace=trace)
        elif name in _RESULT_EVENTS and unique_id in self._run_ids:
            status = str(node_info.get("node_status") or raw["data"].get("status") or "").lower()
            failed = status in _FAILED
            self._node_event(
                RunState.FAIL if failed else RunState.COMPLETE,
                node,
                node_info.get("node_finished_at"),
                status=status,
                error=self.failure_message(unique_id, raw) if failed else None,
                trace=trace,
            )

    def failure_message(self, unique_id: str, raw: Mapping[str, Any]) -> str:
        """Dbt's own error text for a failed node (from its debug log), else a summary."""
        node = self._nodes.get(unique_id) or {"unique_id": unique_id, "name": unique_id}
        return self._error_text(node, raw)

    def _error_text(self, node: Mapping[str, Any], raw: Mapping[str, Any]) -> str:
        found = self._errors.message_for(node["unique_id"]) if self._errors else None
        if found:
            return found
        failures = raw.get("data", {}).get("num_failures")
        if failures is not None:
            return f"dbt test {node['name']} failed with {failures} failing row(s)"
        return f"dbt reported {node.get('resource_type')} {node['name']} as failed"

    def _node_event(
        self,
        state: RunState,
        node: Mapping[str, Any],
        when: str | None,
        *,
        status: str = "",
        error: str | None = None,
        trace: tuple[str, str] | None = None,
    ) -> None:
        unique_id = str(node["unique_id"])
        resource = str(node["resource_type"])
        if resource == "test":
            tested = self._tested_node(node)
            inputs = [self._dataset(tested, with_schema=False)] if tested else []
            column = node.get("column_name") or (node.get("test_metadata") or {}).get(
                "kwargs", {}
            ).get("column_name")
            assertions = []
            if state != RunState.START:
                name = (node.get("test_metadata") or {}).get("name") or node["name"]
                assertions = [(str(name), status in {"pass", "success", "warn"}, column)]
            self._submit(
                state,
                self._run_ids[unique_id],
                node_job_name(node, self._project, self._command),
                utc(when),
                parent=self._parent,
                resource_type=resource,
                inputs=inputs,
                assertions=assertions,
                error=error,
                trace=trace,
            )
            return
        inputs = [self._dataset(parent, with_schema=False) for parent in self._inputs(unique_id)]
        self._submit(
            state,
            self._run_ids[unique_id],
            node_job_name(node, self._project, self._command),
            utc(when),
            parent=self._parent,
            resource_type=resource,
            sql=self._sql(node) if resource != "seed" else None,
            inputs=inputs,
            outputs=[self._dataset(node, with_schema=True)],
            error=error,
            trace=trace,
        )

    def _inputs(self, unique_id: str) -> list[Mapping[str, Any]]:
        """Upstream relations, resolving ephemeral models through to their own inputs."""
        found: list[Mapping[str, Any]] = []
        seen: set[str] = set()
        pending = list(self._manifest.get("parent_map", {}).get(unique_id, []))
        while pending:
            upstream = pending.pop(0)
            if upstream in seen:
                continue
            seen.add(upstream)
            node = self._nodes.get(upstream)
            if node is None:
                continue
            if node.get("config", {}).get("materialized") == "ephemeral":
                pending.extend(self._manifest.get("parent_map", {}).get(upstream, []))
            elif node.get("resource_type") in {"model", "seed", "snapshot", "source"}:
                found.append(node)
        return found

    def _tested_node(self, test: Mapping[str, Any]) -> Mapping[str, Any] | None:
        attached = test.get("attached_node")
        if attached and attached in self._nodes:
            return self._nodes[attached]  # type: ignore[no-any-return]
        for upstream in test.get("depends_on", {}).get("nodes", []):
            if upstream in self._nodes:
                return self._nodes[upstream]  # type: ignore[no-any-return]
        return None

    def _dataset(self, node: Mapping[str, Any], *, with_schema: bool) -> dict[str, Any]:
        name = dataset_name(self._adapter, node)
        classified = self._classified(node) if with_schema else None
        return dataset(
            self._namespace,
            name,
            columns=node.get("columns") if with_schema else None,
            classifications=classified,
        )

    def _classified(self, node: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
        found: dict[str, Mapping[str, Any]] = {}
        for column, props in (node.get("columns") or {}).items():
            meta = (props.get("meta") or {}).get("floe") or (
                (props.get("config") or {}).get("meta") or {}
            ).get("floe")
            if isinstance(meta, Mapping) and meta.get("classification"):
                found[column] = meta
        for column, value in self._classifications.get(str(node.get("name")), {}).items():
            found.setdefault(column, value)
        return found

    def _sql(self, node: Mapping[str, Any]) -> str | None:
        compiled = node.get("compiled_code")
        if compiled:
            return str(compiled)
        if self._target_path is not None:
            path = (
                self._target_path
                / "compiled"
                / str(node.get("package_name"))
                / str(node.get("original_file_path"))
            )
            try:
                return path.read_text(encoding="utf-8")
            except OSError:
                pass
        raw = node.get("raw_code")
        return str(raw) if raw else None

    def _submit(
        self,
        state: RunState,
        run_id: str,
        job_name: str,
        when: str,
        trace: tuple[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        facets = dict(self._run_facets)
        if trace is not None:
            facets["traceCorrelation"] = TraceCorrelationRunFacet(
                traceId=trace[0], spanId=trace[1], producer=PRODUCER
            )
        try:
            event = run_event(
                state,
                run_id=run_id,
                namespace=self.target.namespace,
                job_name=job_name,
                event_time=when,
                dialect=self._adapter or None,
                run_facets=facets,
                **kwargs,
            )
        except Exception:  # noqa: BLE001 - lineage must never fail a run
            return
        self._dispatcher.submit(event)
