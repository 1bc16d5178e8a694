"""OpenTelemetry metrics of one dbt invocation, from dbt's own event stream.

Every node dbt reports a result for (model, seed, snapshot, data or unit test) counts once in
``floe.dbt.nodes`` by its status, exactly as dbt writes it to ``run_results.json`` (``success``,
``error``, ``skipped``; ``pass``, ``fail``, ``warn`` for tests); each executed (not skipped) node
adds its dbt execution time to ``floe.dbt.node.duration``. Rows affected come from the adapter
(``adapter_response.rows_affected`` when the event carries it, else the count at the end of dbt's
result message, as dbt prints it), failing rows of data tests from dbt's ``failures``. The step's
own wall time goes to ``floe.run.duration``.

Attributes are bounded by the project: the asset key (a test's is its tested model's), the
resource type, the materialization, the status and the compute target. Never SQL, messages,
unique ids of tests or per-run ids: those would make a series per run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from floe_scaffold._dbt_results import reported_rows
from floe_scaffold.tracing._config import MetricsTarget
from floe_scaffold.tracing._meter import meter_for

__all__ = ["INSTRUMENTS", "MetricsRecorder"]

#: Name, kind, unit and description of every instrument (the table of
#: ``docs/how-to/telemetry.md`` says the same).
INSTRUMENTS = {
    "floe.dbt.node.duration": ("histogram", "s", "dbt execution time of a node that ran"),
    "floe.dbt.nodes": ("counter", "{node}", "Nodes dbt reported a result for, by status"),
    "floe.dbt.node.rows_affected": ("counter", "{row}", "Rows the adapter reported affected"),
    "floe.dbt.test.failures": ("counter", "{row}", "Failing rows returned by data tests"),
    "floe.run.duration": ("histogram", "s", "Wall time of one dbt invocation (a Dagster step)"),
}
#: Seconds: dbt nodes take from milliseconds to hours (the SDK's default buckets are for ms).
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
_RUN_BUCKETS = (1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400)
_RESULTS = {"LogModelResult", "LogSeedResult", "LogSnapshotResult", "LogTestResult"}
_TESTS = {"test", "unit_test"}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class MetricsRecorder:
    """Metrics of one dbt invocation; see the module docstring."""

    def __init__(
        self,
        target: MetricsTarget,
        *,
        manifest: Mapping[str, Any],
        compute_target: str,
        asset_key_of: Callable[[Mapping[str, Any]], str],
    ) -> None:
        self._meter = meter_for(target)
        meter = self._meter.provider.get_meter("floe_scaffold")
        self._duration = meter.create_histogram(
            "floe.dbt.node.duration",
            unit="s",
            description=INSTRUMENTS["floe.dbt.node.duration"][2],
            explicit_bucket_boundaries_advisory=_BUCKETS,
        )
        self._nodes = meter.create_counter(
            "floe.dbt.nodes", unit="{node}", description=INSTRUMENTS["floe.dbt.nodes"][2]
        )
        self._rows = meter.create_counter(
            "floe.dbt.node.rows_affected",
            unit="{row}",
            description=INSTRUMENTS["floe.dbt.node.rows_affected"][2],
        )
        self._failures = meter.create_counter(
            "floe.dbt.test.failures",
            unit="{row}",
            description=INSTRUMENTS["floe.dbt.test.failures"][2],
        )
        self._run = meter.create_histogram(
            "floe.run.duration",
            unit="s",
            description=INSTRUMENTS["floe.run.duration"][2],
            explicit_bucket_boundaries_advisory=_RUN_BUCKETS,
        )
        self._manifest = manifest
        self._compute_target = compute_target
        self._asset_key_of = asset_key_of
        self._keys: dict[str, str] = {}
        self._done: set[str] = set()
        #: Rows by node, held until dbt's NodeFinished (with adapter_response) or the end.
        self._pending_rows: dict[str, tuple[int, dict[str, str]]] = {}
        self._command = "build"
        self._started: float | None = None

    def start(self, command: str) -> None:
        """The dbt invocation starts (its wall time is measured from here)."""
        self._command = command
        self._started = time.monotonic()

    def on_dbt_event(self, raw: Mapping[str, Any]) -> None:
        """Count a node's result, skip or adapter response (each node once)."""
        name = raw.get("info", {}).get("name")
        if name not in _RESULTS and name not in {"SkippingDetails", "NodeFinished"}:
            return
        data = raw.get("data", {})
        info = data.get("node_info") or {}
        unique_id = str(info.get("unique_id") or "")
        if not unique_id:
            return
        result = data.get("run_result") if name == "NodeFinished" else None
        if isinstance(result, Mapping):
            self._finished(unique_id, info, result)
            return
        if unique_id in self._done:
            return
        self._done.add(unique_id)
        skipped = name == "SkippingDetails"
        status = "skipped" if skipped else self._status(info, data)
        attributes = self._attributes(unique_id, info, status)
        self._nodes.add(1, attributes)
        if skipped:
            return
        seconds = _number(data.get("execution_time"))
        if seconds is not None:
            self._duration.record(seconds, attributes)
        if attributes["dbt.resource_type"] in _TESTS:
            failures = _number(data.get("num_failures"))
            if failures is not None:
                self._failures.add(int(failures), attributes)
            return
        rows = reported_rows(data)
        if rows is not None:
            self._pending_rows[unique_id] = (rows, attributes)

    def _finished(self, unique_id: str, info: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        """Count from dbt's NodeFinished (debug level: there when events arrive unfiltered)."""
        if info.get("materialized") == "ephemeral":
            return  # run, as part of its users, but not a result (not in run_results.json)
        status = str(result.get("status") or info.get("node_status") or "").lower()
        attributes = self._attributes(unique_id, info, status)
        if unique_id not in self._done:  # no result event came: count it from here
            self._done.add(unique_id)
            self._nodes.add(1, attributes)
            seconds = _number(result.get("execution_time"))
            if status != "skipped" and seconds is not None:
                self._duration.record(seconds, attributes)
            failures = _number(result.get("failures", result.get("num_failures")))
            if attributes["dbt.resource_type"] in _TESTS and failures is not None:
                self._failures.add(int(failures), attributes)
        response = result.get("adapter_response")
        rows = _number(response.get("rows_affected")) if isinstance(response, Mapping) else None
        if attributes["dbt.resource_type"] not in _TESTS and rows is not None:
            self._pending_rows[unique_id] = (int(rows), attributes)

    @staticmethod
    def _status(info: Mapping[str, Any], data: Mapping[str, Any]) -> str:
        return str(info.get("node_status") or data.get("status") or "unknown").lower()

    def _attributes(self, unique_id: str, info: Mapping[str, Any], status: str) -> dict[str, str]:
        resource_type = str(info.get("resource_type") or unique_id.split(".", 1)[0])
        return {
            "dagster.asset_key": self._asset_key(unique_id, resource_type),
            "dbt.resource_type": resource_type,
            "dbt.materialized": str(info.get("materialized") or ""),
            "floe.status": status,
            "floe.compute_target": self._compute_target,
        }

    def _asset_key(self, unique_id: str, resource_type: str) -> str:
        """The node's asset key; a test's is the key of the node it tests ("" if none)."""
        known = self._keys.get(unique_id)
        if known is not None:
            return known
        nodes: Mapping[str, Any] = self._manifest.get("nodes", {})
        node = nodes.get(unique_id)
        if resource_type in _TESTS and node is not None:
            attached = node.get("attached_node") or node.get("model")
            if not attached:
                refs = node.get("depends_on", {}).get("nodes", [])
                attached = refs[0] if len(refs) == 1 else None
            node = nodes.get(attached) or self._manifest.get("sources", {}).get(attached)
        key = ""
        if node is not None:
            try:
                key = self._asset_key_of(node)
            except Exception:  # noqa: BLE001 - a node the translator cannot name stays unnamed
                key = ""
        self._keys[unique_id] = key
        return key

    def finish(self, *, error: BaseException | None) -> None:
        """Record the step's duration and rows held back, then export once in the background."""
        for rows, attributes in self._pending_rows.values():
            self._rows.add(rows, attributes)
        self._pending_rows.clear()
        if self._started is not None:
            self._run.record(
                time.monotonic() - self._started,
                {
                    "dbt.command": self._command,
                    "floe.status": "success" if error is None else "error",
                    "floe.compute_target": self._compute_target,
                },
            )
            self._started = None
        self._meter.export()
