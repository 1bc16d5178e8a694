"""Per-model lineage of one dbt invocation, driven by dbt's own event stream as it happens.

START is sent when dbt starts a node (``LogStartLine``), COMPLETE or FAIL when dbt reports its
result (``Log*Result``), so events follow state changes within milliseconds instead of being
rebuilt from a ``run_results.json`` that may be stale. dbt writes a failing node's message to its
debug log file before the result line, so FAIL carries dbt's own error text.

Jobs, inputs and outputs are dbt-ol's (see ``_naming``): a model's inputs are its model and
source parents as the manifest lists them, a FAIL has no output, data tests are one job per
tested node (``_quality``) and a singular test is also a job of its own. Seeds are jobs too, which
dbt-ol leaves out. Datasets are the relations that exist where dbt-ol's are not: a source by its
``identifier``, a source the project makes as its maker's output, an ephemeral model looked
through to what it reads. A model's or snapshot's COMPLETE output carries the ``columnLineage``
facet the run's column tracker read (``floe_scaffold/_column_lineage``), each input column named
as its dataset is here, and every COMPLETE output the ``outputStatistics`` facet with the rows
the adapter reported in dbt's result line (``_dbt_results``; none where it reports no count).
The ``sql`` facet holds compiled SQL only: the manifest's ``compiled_code``, else the file dbt
compiled in this invocation's target path, else nothing: a START goes out before dbt compiled
the node (the file is read only for COMPLETE or FAIL), never with raw Jinja.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from openlineage.client.event_v2 import RunState
from openlineage.client.uuid import generate_new_uuid

from floe_scaffold._column_lineage import ColumnTracker, Origin, compiled_sql
from floe_scaffold._dbt_results import reported_rows
from floe_scaffold._relations import is_ephemeral, produced_sources
from floe_scaffold.lineage._config import LineageTarget
from floe_scaffold.lineage._dagster_run import DAGSTER_NAMESPACE, DagsterRun
from floe_scaffold.lineage._dispatch import Dispatcher
from floe_scaffold.lineage._events import (
    PRODUCER,
    Parent,
    dataset,
    run_event,
    singular_test_facet,
    strip_ansi,
    utc,
)
from floe_scaffold.lineage._facets import TraceCorrelationRunFacet
from floe_scaffold.lineage._naming import (
    data_test_job_name,
    dataset_name,
    dataset_namespace,
    format_name,
    node_job_name,
)
from floe_scaffold.lineage._quality import (
    AssertionGroup,
    DataTestGroups,
    assertion,
    singular_execution,
)
from floe_scaffold.lineage._transport import dispatcher_for

__all__ = ["DagsterRun", "LineageRecorder"]

_RESULT_EVENTS = {"LogSeedResult", "LogModelResult", "LogSnapshotResult", "LogTestResult"}
_EXECUTED = {"model", "seed", "snapshot", "test"}
#: dbt-ol's inputs of a model or snapshot job: its model and source parents.
_INPUT_PREFIXES = ("model.", "source.")
#: dbt-ol's inputs of a singular test's job: its model, source and seed parents.
_TEST_INPUT_PREFIXES = ("model.", "source.", "seed.")
_FAILED = {"error", "fail", "runtime error"}
#: dbt's event for a node it skips (an upstream node failed); for data tests only.
_SKIPPED_EVENT = "SkippingDetails"
_ERROR_EVENTS = {"CatchableExceptionOnRun", "GenericExceptionOnRun", "NodeCompiling"}


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
        columns: ColumnTracker | None = None,
    ) -> None:
        """``columns``: the run's column lineage, for the ``columnLineage`` facet of outputs."""
        self.target = target
        #: The dbt project (names come from the profile as written, as dbt-ol reads it).
        self.dbt_project_dir = dbt_project_dir
        self._manifest = manifest
        self._adapter = str(manifest.get("metadata", {}).get("adapter_type") or "")
        self._project = str(manifest.get("metadata", {}).get("project_name") or "dbt")
        self._namespace = dataset_namespace(self._adapter, profile_output)
        self._command = command
        self._classifications = classifications
        self._run_facets = dict(run_facets or {})
        self._columns = columns
        self._nodes: dict[str, Any] = {**manifest.get("nodes", {}), **manifest.get("sources", {})}
        self._parents: Mapping[str, Any] = manifest.get("parent_map") or {}
        self._made_by = produced_sources(manifest)
        self._tests = DataTestGroups(manifest)
        self._run_ids: dict[str, str] = {}
        self._singular: dict[str, str] = {}
        self._errors: _ErrorLog | None = None
        self._target_path: Path | None = None
        self._since = time.time()
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
        """The OpenLineage run id of a node started in this invocation (a test: its group's)."""
        return self._run_ids.get(unique_id)

    # -- the invocation ---------------------------------------------------------------------

    def start(self, target_path: Path | None, trace: tuple[str, str] | None = None) -> None:
        """Send START for the dbt invocation (the parent job of every node event)."""
        self._since = time.time()
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
        """Close the test groups still open, then send COMPLETE or FAIL for the invocation."""
        for group in self._tests.close_all():
            self._group_event(group)
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

    def flush(self, timeout: float, *, idle: float | None = None) -> bool:
        """Wait (bounded) until the events of this process were sent or given up.

        ``timeout`` bounds the whole wait; ``idle`` ends it once no event went for that long.
        """
        return self._dispatcher.flush(timeout, idle=idle)

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
        if node.get("resource_type") == "test":
            self._on_test(name, raw, node, trace)
        elif name == "LogStartLine" and unique_id not in self._run_ids:
            self._run_ids[unique_id] = str(generate_new_uuid())
            self._node_event(RunState.START, node, node_info.get("node_started_at"), trace=trace)
        elif name in _RESULT_EVENTS and unique_id in self._run_ids:
            status = _status(raw)
            failed = status in _FAILED
            self._node_event(
                RunState.FAIL if failed else RunState.COMPLETE,
                node,
                node_info.get("node_finished_at"),
                error=self.failure_message(unique_id, raw) if failed else None,
                trace=trace,
                rows=reported_rows(raw.get("data") or {}),
            )

    def failure_message(self, unique_id: str, raw: Mapping[str, Any]) -> str:
        """Dbt's own error text for a failed node (from its debug log), else a summary."""
        node = self._nodes.get(unique_id) or {"unique_id": unique_id, "name": unique_id}
        return strip_ansi(self._error_text(node, raw))

    def _error_text(self, node: Mapping[str, Any], raw: Mapping[str, Any]) -> str:
        found = self._errors.message_for(node["unique_id"]) if self._errors else None
        if found:
            return found
        failures = raw.get("data", {}).get("num_failures")
        if failures is not None:
            return f"dbt test {node['name']} failed with {failures} failing row(s)"
        return f"dbt reported {node.get('resource_type')} {node['name']} as failed"

    # -- models, seeds, snapshots -----------------------------------------------------------

    def _node_event(
        self,
        state: RunState,
        node: Mapping[str, Any],
        when: str | None,
        *,
        error: str | None = None,
        trace: tuple[str, str] | None = None,
        rows: int | None = None,
    ) -> None:
        unique_id = str(node["unique_id"])
        resource = str(node["resource_type"])
        sql = None if resource == "seed" else self._sql(node, compiled_file=state != RunState.START)
        self._submit(
            state,
            self._run_ids[unique_id],
            node_job_name(node, self._command),
            utc(when),
            parent=self._parent,
            resource_type=resource,
            sql=sql,
            inputs=[self._dataset(p) for p in self._parents_of(unique_id, _INPUT_PREFIXES)],
            outputs=[] if state == RunState.FAIL else [self._output(node, state, rows)],
            error=error,
            trace=trace,
        )

    def _parents_of(self, unique_id: str, prefixes: tuple[str, ...]) -> list[Mapping[str, Any]]:
        """The parents dbt-ol takes for inputs, in the manifest's order, as relations that exist.

        Two differences from dbt-ol: an ephemeral model (no relation is ever built for it) is
        looked through to what it reads, and a source over a relation the project makes is named
        as that relation's maker, so the chain joins.
        """
        found: dict[str, Mapping[str, Any]] = {}
        pending = list(reversed(self._parents.get(unique_id) or []))
        seen: set[str] = set()
        while pending:
            parent = str(pending.pop())
            node = self._nodes.get(parent)
            if parent in seen or node is None or not parent.startswith(prefixes):
                continue
            seen.add(parent)
            if is_ephemeral(node):  # read through: its own parents, in their order
                pending.extend(reversed(self._parents.get(parent) or []))
                continue
            found.setdefault(self._name(node), node)
        return list(found.values())

    def _name(self, node: Mapping[str, Any]) -> str:
        """The dataset name of ``node``; a source the project makes is named as its maker."""
        makers = self._made_by.get(str(node.get("unique_id"))) or ()
        if len(makers) == 1 and makers[0] in self._nodes:
            return dataset_name(self._nodes[makers[0]])
        return dataset_name(node)

    # -- data tests -------------------------------------------------------------------------

    def _on_test(
        self,
        name: str | None,
        raw: Mapping[str, Any],
        test: Mapping[str, Any],
        trace: tuple[str, str] | None,
    ) -> None:
        """A data test started, finished or was skipped (dbt-ol counts a skipped test failed)."""
        node_info = raw.get("data", {}).get("node_info") or {}
        started = node_info.get("node_started_at")
        if name in {"LogStartLine", _SKIPPED_EVENT}:
            self._test_started(test, started, trace)
        if name == _SKIPPED_EVENT:
            skipped = "dbt skipped it: a node it depends on failed"
            self._test_finished(test, "skipped", None, started, trace, skipped)
        elif name in _RESULT_EVENTS:
            status = _status(raw)
            failed = status in _FAILED
            self._test_finished(
                test,
                status,
                raw.get("data", {}).get("num_failures"),
                node_info.get("node_finished_at"),
                trace,
                self.failure_message(str(test["unique_id"]), raw) if failed else None,
            )

    def _test_started(
        self, test: Mapping[str, Any], when: str | None, trace: tuple[str, str] | None
    ) -> None:
        unique_id = str(test["unique_id"])
        opened = self._tests.start(unique_id, when, trace)
        if opened is not None:
            self._group_event(opened, start=True)
        group = self._tests.group_of(unique_id)
        if group is not None:
            self._run_ids[unique_id] = group.run_id
        if not test.get("test_metadata") and unique_id not in self._singular:
            self._singular[unique_id] = str(generate_new_uuid())
            self._singular_event(RunState.START, test, when, trace)

    def _test_finished(
        self,
        test: Mapping[str, Any],
        status: str,
        failures: int | None,
        when: str | None,
        trace: tuple[str, str] | None,
        error: str | None,
    ) -> None:
        unique_id = str(test["unique_id"])
        closed = self._tests.finish(unique_id, assertion(test, status, failures), when, error)
        if closed is not None:
            self._group_event(closed)
        if unique_id in self._singular:
            self._singular_event(
                RunState.COMPLETE if status in {"pass", "warn"} else RunState.FAIL,
                test,
                when,
                trace,
                execution=singular_execution(test, status, failures),
                error=error,
            )
            del self._singular[unique_id]

    def _group_event(self, group: AssertionGroup, *, start: bool = False) -> None:
        tested = self._nodes[group.tested_id]
        if start:
            state, error = RunState.START, None
        elif group.failed or not group.assertions:
            state = RunState.FAIL
            error = "\n".join(group.errors) or f"data tests of {tested['name']} failed"
        else:
            state, error = RunState.COMPLETE, None
        self._submit(
            state,
            group.run_id,
            data_test_job_name(tested, self._command),
            utc(group.started_at if start else group.finished_at),
            parent=self._parent,
            resource_type="test",
            inputs=[self._dataset(tested)],
            assertions=() if start else group.assertions,
            error=error,
            trace=group.trace,
        )

    def _singular_event(
        self,
        state: RunState,
        test: Mapping[str, Any],
        when: str | None,
        trace: tuple[str, str] | None,
        *,
        execution: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        unique_id = str(test["unique_id"])
        facet = singular_test_facet(execution) if execution is not None else None
        self._submit(
            state,
            self._singular[unique_id],
            unique_id,
            utc(when),
            parent=self._parent,
            resource_type="test",
            inputs=[self._dataset(p) for p in self._parents_of(unique_id, _TEST_INPUT_PREFIXES)],
            error=error if state == RunState.FAIL else None,
            trace=trace,
            extra_run_facets={"test": facet} if facet is not None else None,
        )

    # -- datasets and SQL -------------------------------------------------------------------

    def _dataset(self, node: Mapping[str, Any]) -> dict[str, Any]:
        return dataset(self._namespace, self._name(node))

    def _output(
        self, node: Mapping[str, Any], state: RunState, rows: int | None = None
    ) -> dict[str, Any]:
        """The relation a node wrote, with its schema and, once built, its column lineage.

        ``rows``: what the adapter reported written, the ``outputStatistics`` facet.
        """
        found = None
        if state == RunState.COMPLETE and self._columns is not None:
            found = self._columns.lineage_of(str(node["unique_id"]))
        traced = None
        if found is not None:
            traced = {
                column: [
                    (self._origin_name(origin), origin.column, origin.kind)
                    for origin in found.inputs[column]
                ]
                for column in found.columns
                if column in found.inputs
            }
        return dataset(
            self._namespace,
            self._name(node),
            columns=node.get("columns"),
            classifications=self._classified(node),
            column_lineage=traced,
            rows=rows if state == RunState.COMPLETE else None,
        )

    def _origin_name(self, origin: Origin) -> str:
        node = self._nodes.get(origin.node) if origin.node else None
        return self._name(node) if node is not None else format_name(*origin.relation)

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

    def _sql(self, node: Mapping[str, Any], *, compiled_file: bool) -> str | None:
        """Compiled SQL only: the manifest's, else this invocation's compiled file, else None.

        The file is read only once the node finished (``compiled_file``): at START dbt may be
        writing it still.
        """
        if node.get("compiled_code"):
            return str(node["compiled_code"])
        if not compiled_file:
            return None
        return compiled_sql(node, self._target_path, self._since)

    def _submit(
        self,
        state: RunState,
        run_id: str,
        job_name: str,
        when: str,
        trace: tuple[str, str] | None = None,
        extra_run_facets: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        facets = {**self._run_facets, **(extra_run_facets or {})}
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


def _status(raw: Mapping[str, Any]) -> str:
    node_info = raw.get("data", {}).get("node_info") or {}
    return str(node_info.get("node_status") or raw.get("data", {}).get("status") or "").lower()
