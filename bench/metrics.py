"""OpenTelemetry metrics cost: per-node overhead in-process, and run wall time on vs off.

In-process: a node's start and result events through a :class:`MetricsRecorder` (one counter, a
histogram observation, rows held for the end), against the same events through a recorder-less
loop (the baseline), alternating. Runs: the demo with metrics only (spans and lineage off) to a
live collector, refused and hanging, against the same run with metrics off
(``OTEL_METRICS_EXPORTER=none``), alternating after a warm-up. ``--quick``: 1 run each, off and
live collector only.
"""

from __future__ import annotations

from contextlib import ExitStack
from functools import partial
from typing import Any

from bench._demo import parsed_demo
from bench._process import timed_floe_run
from bench._timing import Figure, alternate, figure, seconds, with_ratio
from floe_scaffold.tracing import resolve_metrics, shutdown_all
from floe_scaffold.tracing._metrics import MetricsRecorder
from tests.observability.lineage_receiver import hanging_endpoint, refused_endpoint
from tests.observability.otlp_receiver import OtlpReceiver

_MANIFEST: dict[str, Any] = {
    "metadata": {"project_name": "p"},
    "nodes": {f"model.p.m{i}": {"name": f"m{i}", "resource_type": "model"} for i in range(100)},
}
_OFF = {"OTEL_TRACES_DISABLED": "true", "OPENLINEAGE_DISABLED": "true"}


def _events(index: int) -> tuple[dict[str, Any], dict[str, Any]]:
    info = {"unique_id": f"model.p.m{index}", "resource_type": "model", "materialized": "table"}
    start = {"info": {"name": "LogStartLine"}, "data": {"node_info": {**info}}}
    end = {
        "info": {"name": "LogModelResult"},
        "data": {
            "status": "SELECT 12",
            "execution_time": 0.1,
            "node_info": {**info, "node_status": "success"},
        },
    }
    return start, end


def _node_overhead(receiver: OtlpReceiver, nodes: int, runs: int) -> list[Figure]:
    """Seconds per node, with and without the recorder (a fresh recorder per pass)."""
    target = resolve_metrics(service_name="bench", endpoint=receiver.http_endpoint)
    events = [_events(index % 100) for index in range(nodes)]

    def without() -> None:
        for start, end in events:
            start["info"].get("name")
            end["info"].get("name")

    def with_metrics() -> None:
        recorder = MetricsRecorder(
            target, manifest=_MANIFEST, compute_target="duckdb", asset_key_of=lambda n: n["name"]
        )
        recorder.start("build")
        for start, end in events:
            recorder.on_dbt_event(start)
            recorder.on_dbt_event(end)
        recorder.finish(error=None)  # the export runs on its own thread

    samples = alternate({"baseline": without, "metrics": with_metrics}, runs=runs)
    shutdown_all()
    per_node = {name: [s / nodes for s in seconds(values)] for name, values in samples.items()}
    base = figure("per node, events without metrics (in-process)", per_node["baseline"])
    measured = figure("per node, metrics recorded (in-process)", per_node["metrics"])
    return [base, with_ratio(measured, base)]


def run(*, quick: bool) -> list[Figure]:
    """Measure and return the figures of this benchmark."""
    runs = 1 if quick else 5
    with ExitStack() as stack:
        receiver = stack.enter_context(OtlpReceiver())
        figures = _node_overhead(receiver, 1000, 3 if quick else 15)
        project = parsed_demo()
        scenarios: dict[str, dict[str, str]] = {
            "run, metrics off": {"OTEL_METRICS_EXPORTER": "none"},
            "run, metrics to a live collector": {
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": receiver.http_endpoint
            },
            "run, metrics collector refused": {
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": stack.enter_context(refused_endpoint())
            },
            "run, metrics collector hanging": {
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": stack.enter_context(hanging_endpoint())
            },
        }
        if quick:
            scenarios = dict(list(scenarios.items())[:2])
        envs = {name: {**_OFF, **env} for name, env in scenarios.items()}
        samples = alternate(
            {name: partial(timed_floe_run, project, env) for name, env in envs.items()},
            runs=runs,
            warmup=0 if quick else 1,
        )
    measured = [figure(name, seconds(values)) for name, values in samples.items()]
    baseline = measured[0]
    return [*figures, baseline, *(with_ratio(figure, baseline) for figure in measured[1:])]
