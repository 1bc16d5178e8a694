"""OpenTelemetry cost: per-span overhead in-process, and run wall time by collector state.

Run scenarios alternate (off, receiver up, refused, hanging, off, …); the baseline is the same
run with tracing off (``OTEL_SDK_DISABLED=true``).
"""

from __future__ import annotations

import statistics
import tempfile
from contextlib import ExitStack
from pathlib import Path

from bench._timing import Figure, measure, with_ratio
from bench.project import timed_floe_run
from floe_scaffold.project import init_project
from floe_scaffold.tracing import SpanRecorder, TracingTarget
from tests.observability.lineage_receiver import hanging_endpoint, refused_endpoint
from tests.observability.otlp_receiver import OtlpReceiver

_NODE = {"unique_id": "model.p.m", "name": "m", "resource_type": "model"}
_MANIFEST = {"metadata": {"project_name": "p"}, "nodes": {"model.p.m": _NODE}}
_START = {
    "info": {"name": "LogStartLine"},
    "data": {"node_info": {"unique_id": "model.p.m", "node_status": "started"}},
}
_END = {
    "info": {"name": "LogModelResult"},
    "data": {
        "status": "OK",
        "execution_time": 0.1,
        "node_info": {"unique_id": "model.p.m", "node_status": "success"},
    },
}


def _span_overhead(runs: int) -> Figure:
    recorder = SpanRecorder(
        TracingTarget(True),  # spans made, nothing exported
        manifest=_MANIFEST,
        compute_target="duckdb",
        dagster_run_id="run",
        dagster_job="job",
        asset_key_of=lambda node: str(node["name"]),
    )
    recorder.start("build")

    def one_materialization() -> None:
        recorder.on_dbt_event(_START)
        recorder.on_dbt_event(_END)

    figure = measure("span per materialization (in-process)", one_materialization, runs=runs)
    recorder.finish(error=None)
    return figure


def run(*, quick: bool) -> list[Figure]:
    """Measure and return the figures of this benchmark."""
    runs = 3 if quick else 5
    figures = [_span_overhead(200 if quick else 2000)]
    with tempfile.TemporaryDirectory(prefix="floe-bench-tracing-") as scratch, ExitStack() as stack:
        project = Path(scratch) / "shop"
        init_project(project, git=False)
        receiver = stack.enter_context(OtlpReceiver())
        scenarios = {
            "run, tracing off": {"OTEL_SDK_DISABLED": "true"},
            "run, tracing to a live collector": {
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.http_endpoint
            },
            "run, collector refused": {
                "OTEL_EXPORTER_OTLP_ENDPOINT": stack.enter_context(refused_endpoint())
            },
            "run, collector hanging": {
                "OTEL_EXPORTER_OTLP_ENDPOINT": stack.enter_context(hanging_endpoint())
            },
        }
        for env in scenarios.values():
            timed_floe_run(project, {"OPENLINEAGE_DISABLED": "true", **env})
        samples: dict[str, list[float]] = {name: [] for name in scenarios}
        for _ in range(runs):
            for name, env in scenarios.items():
                samples[name].append(
                    timed_floe_run(project, {"OPENLINEAGE_DISABLED": "true", **env})
                )
    measured = [
        Figure(name, statistics.median(values), min(values), max(values), runs)
        for name, values in samples.items()
    ]
    baseline = measured[0]
    return [*figures, baseline, *(with_ratio(figure, baseline) for figure in measured[1:])]
