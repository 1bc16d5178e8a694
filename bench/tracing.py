"""OpenTelemetry cost: per-span overhead in-process, and run wall time by collector state.

Run scenarios alternate (off, receiver up, refused, hanging, off, …) after a warm-up of each;
the baseline is the same run with tracing off (``OTEL_SDK_DISABLED=true``). ``--quick``: tracing
off and to a live collector only, one run each, warmed only by the runs before (bench/_demo.py).
"""

from __future__ import annotations

from contextlib import ExitStack
from functools import partial

from bench._demo import parsed_demo
from bench._process import timed_floe_run
from bench._timing import Figure, alternate, figure, measure, seconds, with_ratio
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
    runs = 1 if quick else 5
    figures = [_span_overhead(200 if quick else 2000)]
    with ExitStack() as stack:
        project = parsed_demo()
        receiver = stack.enter_context(OtlpReceiver())
        scenarios: dict[str, dict[str, str]] = {
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
        if quick:
            scenarios = dict(list(scenarios.items())[:2])
        # Metrics off: they would reach the same collector (bench/metrics.py measures them).
        quiet = {"OPENLINEAGE_DISABLED": "true", "OTEL_METRICS_EXPORTER": "none"}
        envs = {name: {**quiet, **env} for name, env in scenarios.items()}
        for env in [] if quick else envs.values():  # warm-up
            timed_floe_run(project, env)
        samples = alternate(
            {name: partial(timed_floe_run, project, env) for name, env in envs.items()},
            runs=runs,
            warmup=0,
        )
    measured = [figure(name, seconds(values)) for name, values in samples.items()]
    baseline = measured[0]
    return [*figures, baseline, *(with_ratio(figure, baseline) for figure in measured[1:])]
