"""OpenLineage cost on the demo project: event latency, and run wall time by endpoint state.

Scenarios are run alternately (off, receiver up, refused, hanging, off, …) after a warm-up of
each, so drift hits all alike; the baseline is the same run with lineage off. ``--quick``: lineage
off and to a live receiver only, one run each, warmed only by the runs before (bench/_demo.py).
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import datetime
from functools import partial

from bench._demo import parsed_demo
from bench._process import timed_floe_run
from bench._timing import Figure, alternate, figure, seconds, with_ratio
from tests.observability.conftest import floe_facet_schema_files
from tests.observability.lineage_receiver import (
    LineageReceiver,
    OpenLineageValidator,
    hanging_endpoint,
    refused_endpoint,
)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def run(*, quick: bool) -> list[Figure]:
    """Measure and return the figures of this benchmark."""
    runs = 1 if quick else 5
    with ExitStack() as stack:
        project = parsed_demo()
        validator = OpenLineageValidator(extra_schema_files=floe_facet_schema_files())
        receiver = stack.enter_context(LineageReceiver(validator))
        scenarios: dict[str, dict[str, str]] = {
            "run, lineage off": {"OPENLINEAGE_DISABLED": "true"},
            "run, lineage to a live receiver": {"OPENLINEAGE_URL": receiver.url},
            "run, lineage endpoint refused": {
                "OPENLINEAGE_URL": stack.enter_context(refused_endpoint())
            },
            "run, lineage endpoint hanging": {
                "OPENLINEAGE_URL": stack.enter_context(hanging_endpoint())
            },
        }
        if quick:
            scenarios = dict(list(scenarios.items())[:2])
        for env in [] if quick else scenarios.values():  # warm-up
            timed_floe_run(project, env)
        receiver.clear()
        samples = alternate(
            {name: partial(timed_floe_run, project, env) for name, env in scenarios.items()},
            runs=runs,
            warmup=0,
        )
        if receiver.invalid:
            raise RuntimeError(f"the receiver rejected events: {receiver.invalid[:1]}")
        latencies = []
        for event, received in zip(receiver.events, receiver.received_at, strict=True):
            if event["job"]["name"].startswith("dbt-run-"):
                continue
            happened = datetime.fromisoformat(event["eventTime"].replace("Z", "+00:00"))
            latencies.append(received - happened.timestamp())
    figures = [figure(name, seconds(values)) for name, values in samples.items()]
    baseline = figures[0]
    figures = [baseline, *(with_ratio(figure, baseline) for figure in figures[1:])]
    figures.append(
        Figure(
            f"lineage event latency p50 (p99 {_percentile(latencies, 0.99) * 1000:.0f} ms)",
            _percentile(latencies, 0.5),
            min(latencies),
            max(latencies),
            len(latencies),
            samples=tuple(latencies),
        )
    )
    return figures
