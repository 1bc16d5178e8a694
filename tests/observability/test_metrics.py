"""OpenTelemetry metrics from real runs of the demo project, received by a real OTLP receiver.

What dbt wrote to the invocation's own ``run_results.json`` is the oracle: every node it reports
(models, seeds, tests; snapshots would count the same way) must be in ``floe.dbt.nodes`` with its
status, and every node that ran must be one observation of ``floe.dbt.node.duration``. The
instruments' names, kinds and units are the README's table (what users build dashboards on),
read from the README itself, not from the product's own ``INSTRUMENTS``.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from floe_scaffold.project import init_project
from floe_scaffold.tracing import SHUTDOWN_SECONDS, resolve_metrics, shutdown_all
from floe_scaffold.tracing._config import TracingTarget
from floe_scaffold.tracing._meter import Meter
from floe_scaffold.tracing._metrics import INSTRUMENTS, MetricsRecorder
from floe_scaffold.tracing._provider import provider_for
from tests.helpers import FloeRunner, build_contract, docs_page, write_json
from tests.observability.lineage_receiver import EndpointUrl
from tests.observability.otlp_receiver import MetricPoint, OtlpReceiver
from tests.observability.paired_runs import (
    NOISE_SECONDS,
    added_bound,
    copy_project,
    run_alongside,
)
from tests.project.conftest import floe_run

TENANT = "7f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
#: Metrics only: spans off (so a receiver's requests are the metrics' alone), lineage off.
METRICS_ONLY = {"OTEL_TRACES_DISABLED": "true", "OPENLINEAGE_DISABLED": "true"}
BOTH_OFF = {"OTEL_SDK_DISABLED": "true", "OPENLINEAGE_DISABLED": "true"}
SNAPSHOT = """{% snapshot orders_snapshot %}
{{ config(target_schema='snapshots', unique_key='id', strategy='check', check_cols='all') }}
select * from {{ ref('raw_orders') }}
{% endsnapshot %}
"""
#: Three of the demo's six orders have an id above 3: a warning with 3 failing rows.
WARNING_TEST = """{{ config(severity='warn') }}
select * from {{ ref('stg_orders') }} where order_id > 3
"""
#: A row of the README's metrics table: | `name` | kind | `unit` | attributes | what |
_README_ROW = re.compile(r"^\| `(floe\.[a-z_.]+)` \| (counter|histogram) \| `([^`]+)` \|", re.M)


def _readme_metrics() -> dict[str, tuple[str, str]]:
    """The README's metrics table: name -> (kind, unit)."""
    readme = docs_page("how-to/telemetry.md")
    return {name: (kind, unit) for name, kind, unit in _README_ROW.findall(readme)}


#: The OTLP point kind each instrument kind is exported as.
_POINT_KIND = {"counter": "sum", "histogram": "histogram"}


@pytest.fixture(scope="module")
def metrics_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo, parsed once, with an environment context (tenant) in its contract."""
    dest = tmp_path_factory.mktemp("metrics") / "shop"
    init_project(dest, git=False)
    contract = dest / ".floe" / "compiled_artifacts.json"
    data = json.loads(contract.read_text(encoding="utf-8"))
    data["environment_context"] = {
        "tenant_id": TENANT,
        "tenant_slug": "acme",
        "project_id": "1f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f",
        "project_slug": "shop",
        "environment_id": "2f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f",
        "environment_type": "development",
        "governance_category": "non_production",
    }
    contract.write_text(json.dumps(data, indent=2), encoding="utf-8")
    # A snapshot and a data test that warns, so every kind of node and a test failure count.
    (dest / "dbt" / "snapshots").mkdir()
    (dest / "dbt" / "snapshots" / "orders_snapshot.sql").write_text(SNAPSHOT, encoding="utf-8")
    (dest / "dbt" / "tests" / "few_orders.sql").write_text(WARNING_TEST, encoding="utf-8")
    done = floe_run(dest, BOTH_OFF, "--select", "raw_orders")
    assert done.returncode == 0, done.stdout + done.stderr
    return dest


@pytest.fixture
def project(metrics_project: Path, tmp_path: Path) -> Iterator[Path]:
    yield copy_project(metrics_project, tmp_path / "shop")


def _results_file(project: Path, before: set[Path]) -> Path:
    """The run_results.json of the one invocation that ran since ``before`` was listed."""
    (new,) = set((project / "dbt" / "target").rglob("run_results.json")) - before
    return new


def _run_results(project: Path, before: set[Path]) -> list[dict[str, Any]]:
    """The results of the one invocation that ran since ``before`` was listed."""
    new = _results_file(project, before)
    return list(json.loads(new.read_text(encoding="utf-8"))["results"])


def _rows(points: list[MetricPoint]) -> dict[str, float]:
    return {p.attributes["dagster.asset_key"]: p.value for p in points}


def _existing(project: Path) -> set[Path]:
    return set((project / "dbt" / "target").rglob("run_results.json"))


def _by_status(points: list[MetricPoint]) -> Counter[tuple[str, str]]:
    totals: Counter[tuple[str, str]] = Counter()
    for point in points:
        key = (point.attributes["dbt.resource_type"], point.attributes["floe.status"])
        totals[key] += int(point.value)
    return totals


def _expected(results: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    return Counter((r["unique_id"].split(".")[0], r["status"]) for r in results)


@pytest.mark.slow
@pytest.mark.usefixtures("otel_env")  # the in-process replay below resolves from OTEL_* too
@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_a_run_exports_metrics_that_add_up_to_dbts_run_results(
    project: Path, otlp_receiver: OtlpReceiver, protocol: str
) -> None:
    endpoint = otlp_receiver.grpc_endpoint if protocol == "grpc" else otlp_receiver.http_endpoint
    before = _existing(project)
    env = {
        **METRICS_ONLY,
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": protocol,
    }
    done = floe_run(project, env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    requests = otlp_receiver.wait_for_metrics(1, timeout=10)
    assert len(requests) == 1, "one export, at the end of the dbt step"
    assert otlp_receiver.requests == [], "spans were off"
    results = _run_results(project, before)
    kinds = {r["unique_id"].split(".")[0] for r in results}
    assert kinds == {"model", "seed", "snapshot", "test"}
    assert "warn" in {r["status"] for r in results}

    nodes = otlp_receiver.points_named("floe.dbt.nodes")
    assert _by_status(nodes) == _expected(results)
    durations = otlp_receiver.points_named("floe.dbt.node.duration")
    ran = [r for r in results if r["status"] != "skipped"]
    assert sum(point.count for point in durations) == len(ran)
    assert sum(point.value for point in durations) == pytest.approx(
        sum(r["execution_time"] for r in ran), rel=1e-3
    )
    rows = _rows(otlp_receiver.points_named("floe.dbt.node.rows_affected"))
    expected_rows = {
        r["unique_id"].split(".")[-1]: r["adapter_response"]["rows_affected"]
        for r in results
        if "rows_affected" in r["adapter_response"]
    }
    assert rows == expected_rows
    assert rows["raw_orders"] == 6
    failures = otlp_receiver.points_named("floe.dbt.test.failures")
    assert sum(p.value for p in failures) == sum(r["failures"] or 0 for r in results) == 3
    (warned,) = [p for p in failures if p.value]
    assert warned.attributes["floe.status"] == "warn"
    assert warned.attributes["dagster.asset_key"] == "stg_orders", "the tested model"
    (run,) = otlp_receiver.points_named("floe.run.duration")
    assert run.count == 1
    assert run.attributes == {
        "dbt.command": "build",
        "floe.status": "success",
        "floe.compute_target": "duckdb",
    }

    points = otlp_receiver.metric_points
    documented = _readme_metrics()
    assert {p.name for p in points} == set(documented)
    for point in points:
        kind, unit = documented[point.name]
        assert (point.kind, point.unit) == (_POINT_KIND[kind], unit), point.name
        assert point.temporality == "DELTA"
        assert point.protocol == ("grpc" if protocol == "grpc" else "http")
        assert point.resource["service.name"] == "shop"
        assert point.resource["floe.tenant_id"] == TENANT
        assert point.resource["floe.tenant_slug"] == "acme"
        assert point.resource["floe.project_slug"] == "shop"
        assert point.resource["floe.environment_type"] == "development"
        assert point.resource["floe.compute_target"] == "duckdb"
        # Bounded attributes: nothing per run, no SQL, no message.
        assert set(point.attributes) <= {
            "dagster.asset_key",
            "dbt.resource_type",
            "dbt.materialized",
            "floe.status",
            "floe.compute_target",
            "dbt.command",
        }
    _replay_unfiltered(project, _results_file(project, before), otlp_receiver, endpoint, protocol)


def _replay_unfiltered(
    project: Path, results_file: Path, receiver: OtlpReceiver, endpoint: str, protocol: str
) -> None:
    """The same run's events at every level (dbt's debug log beside run_results.json, as an
    in-process dbtRunner's callback would get them, NodeFinished included) count the same."""
    events = [
        json.loads(line)
        for line in (results_file.parent / "dbt.log").read_text(encoding="utf-8").splitlines()
        if line.startswith("{")
    ]
    assert any(event["info"]["name"] == "NodeFinished" for event in events)
    results = json.loads(results_file.read_text(encoding="utf-8"))["results"]
    manifest = json.loads((project / "dbt/target/manifest.json").read_text(encoding="utf-8"))
    receiver.clear()
    recorder = MetricsRecorder(
        resolve_metrics(service_name="replay", endpoint=endpoint, protocol=protocol),
        manifest=manifest,
        compute_target="duckdb",
        asset_key_of=lambda node: str(node["name"]),
    )
    recorder.start("build")
    for event in events:
        recorder.on_dbt_event(event)
    recorder.finish(error=None)
    receiver.wait_for_metrics(1, timeout=10)
    assert _by_status(receiver.points_named("floe.dbt.nodes")) == _expected(results)
    durations = receiver.points_named("floe.dbt.node.duration")
    assert sum(p.count for p in durations) == sum(r["status"] != "skipped" for r in results)
    assert _rows(receiver.points_named("floe.dbt.node.rows_affected")) == {
        r["unique_id"].split(".")[-1]: r["adapter_response"]["rows_affected"]
        for r in results
        if "rows_affected" in r["adapter_response"]
    }


@pytest.mark.slow
def test_a_failing_model_shows_in_the_error_counter(
    project: Path, otlp_receiver: OtlpReceiver
) -> None:
    (project / "dbt/models/marts/orders.sql").write_text(
        "select order_id, no_such_column from {{ ref('stg_orders') }}\n", encoding="utf-8"
    )
    before = _existing(project)
    env = {**METRICS_ONLY, "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.http_endpoint}
    done = floe_run(project, env)
    assert done.returncode == 1
    otlp_receiver.wait_for_metrics(1, timeout=10)
    results = _run_results(project, before)
    nodes = otlp_receiver.points_named("floe.dbt.nodes")
    assert _by_status(nodes) == _expected(results)
    errors = [p for p in nodes if p.attributes["floe.status"] == "error"]
    assert [(p.attributes["dagster.asset_key"], p.value) for p in errors] == [("orders", 1)]
    assert _by_status(nodes)[("model", "skipped")] >= 1, "customers is skipped"
    durations = otlp_receiver.points_named("floe.dbt.node.duration")
    assert sum(p.count for p in durations) == sum(r["status"] != "skipped" for r in results)
    (run,) = otlp_receiver.points_named("floe.run.duration")
    assert run.attributes["floe.status"] == "error"


@pytest.mark.slow
def test_metrics_off_in_the_contract_export_nothing_and_connect_nowhere(
    project: Path, otlp_receiver: OtlpReceiver
) -> None:
    """Spans still go to the receiver (so the run did reach it); metrics never do."""
    contract = project / ".floe" / "compiled_artifacts.json"
    data = json.loads(contract.read_text(encoding="utf-8"))
    data["observability"]["metrics"] = False
    contract.write_text(json.dumps(data), encoding="utf-8")
    env = {
        "OPENLINEAGE_DISABLED": "true",
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.http_endpoint,
    }
    done = floe_run(project, env, "--select", "raw_orders")
    assert done.returncode == 0, done.stderr[-3000:]
    otlp_receiver.wait_for(1, timeout=10)
    time.sleep(0.5)
    assert otlp_receiver.metric_requests == []
    assert otlp_receiver.metric_points == []


@pytest.mark.slow
@pytest.mark.parametrize("switch", ["OTEL_METRICS_EXPORTER", "OTEL_SDK_DISABLED"])
def test_metrics_switched_off_by_the_environment_never_connect(
    project: Path, hanging_url: EndpointUrl, switch: str
) -> None:
    """A listening endpoint counts every connection: none may be made."""
    value = "none" if switch == "OTEL_METRICS_EXPORTER" else "true"
    env = {
        **METRICS_ONLY,
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": hanging_url,
        switch: value,
    }
    done = floe_run(project, env, "--select", "raw_orders")
    assert done.returncode == 0, done.stderr[-3000:]
    assert hanging_url.connections == 0


@pytest.mark.slow
@pytest.mark.parametrize("endpoint", ["refused_url", "hanging_url", "garbage_url"])
def test_a_broken_metrics_collector_never_fails_or_holds_the_run(
    project: Path,
    metrics_project: Path,
    tmp_path: Path,
    endpoint: str,
    request: pytest.FixtureRequest,
) -> None:
    """One export reaches the broken collector (no retry), one warning names it, and the run
    adds at most the traces' exit bound to a baseline started alongside."""
    url = request.getfixturevalue(endpoint)
    baseline = copy_project(metrics_project, tmp_path / "base")
    env = {**METRICS_ONLY, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": url}
    paired = run_alongside(project, env, baseline, BOTH_OFF, "--select", "raw_orders")
    done = paired.done
    assert paired.baseline.returncode == 0, paired.baseline.stderr[-3000:]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert "retrying in" not in done.stderr, "the exporter waited to retry"
    warnings = [line for line in done.stderr.splitlines() if "OTLP metrics endpoint" in line]
    assert len(warnings) == 1, done.stderr[-3000:]
    assert url.split("//")[1] in warnings[0]
    if isinstance(url, EndpointUrl) and endpoint == "hanging_url":
        assert url.connections == 1, "one export, not retried"
    bound = added_bound(SHUTDOWN_SECONDS, paired.baseline_seconds)
    assert paired.added <= bound, (
        f"metrics added {paired.added:.1f} s to a {paired.baseline_seconds:.1f} s run "
        f"started alongside (allowed {bound:.1f} s)"
    )


def test_resolution_precedence(otel_env: pytest.MonkeyPatch) -> None:
    target = resolve_metrics(service_name="s", contract_endpoint="http://collector:4317")
    assert (target.endpoint, target.protocol, target.timeout, target.temporality) == (
        "http://collector:4317",
        "grpc",
        2.0,
        "delta",
    )
    assert resolve_metrics(service_name="s").exports is False, "no endpoint: nothing to make"
    assert not resolve_metrics(service_name="s", contract_enabled=False).enabled
    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://all:4318")
    otel_env.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "metrics:4318")
    otel_env.setenv("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "5")
    otel_env.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "CUMULATIVE")
    target = resolve_metrics(service_name="s", contract_endpoint="http://contract:4317")
    assert (target.endpoint, target.protocol, target.timeout, target.temporality) == (
        "http://metrics:4318",
        "http/protobuf",
        5.0,
        "cumulative",
    )
    target = resolve_metrics(service_name="s", endpoint="http://yaml:1", protocol="grpc")
    assert (target.endpoint, target.protocol) == ("http://yaml:1", "grpc")
    otel_env.setenv("OTEL_METRICS_EXPORTER", "none")
    assert resolve_metrics(service_name="s", enabled=True).off == "OTEL_METRICS_EXPORTER=none"
    otel_env.setenv("OTEL_METRICS_EXPORTER", "otlp")
    otel_env.setenv("OTEL_SDK_DISABLED", "true")
    assert resolve_metrics(service_name="s", enabled=True).off == "OTEL_SDK_DISABLED"


def test_validate_says_where_each_signal_goes(
    floe: FloeRunner, tmp_path: Path, otel_env: pytest.MonkeyPatch
) -> None:
    data = build_contract(observability={"lineage": False})
    result = floe("validate", write_json(tmp_path, data))
    assert result.stdout.splitlines()[1].endswith(
        "traces on (nowhere), lineage off, metrics on (nowhere)"
    )
    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    otel_env.setenv("OTEL_METRICS_EXPORTER", "none")
    result = floe("validate", write_json(tmp_path, data))
    assert result.stdout.splitlines()[1].endswith(
        "traces on (http://collector:4318), lineage off, metrics off"
    )


def test_the_readme_documents_every_instrument_as_made() -> None:
    documented = _readme_metrics()
    assert len(documented) == len(INSTRUMENTS) == 5
    assert documented == {name: (kind, unit) for name, (kind, unit, _) in INSTRUMENTS.items()}


def test_instrument_names_follow_opentelemetry_conventions() -> None:
    for name, (kind, unit) in _readme_metrics().items():
        assert name == name.lower() and " " not in name and "." in name
        assert not name.endswith(("_total", ".total", "_seconds"))
        assert kind in {"counter", "histogram"}
        assert unit == "s" or (unit.startswith("{") and unit.endswith("}"))


# --------------------------------------------------------------------------------------------------
# The exporter floe builds for metrics: no retry, a per-process breaker, one warning
# --------------------------------------------------------------------------------------------------


def _export_one(meter: Meter) -> None:
    meter.provider.get_meter("test").create_counter("floe.test").add(1)
    worker = meter.export()
    assert worker is not None
    worker.join(10)
    assert not worker.is_alive()


@pytest.mark.usefixtures("otel_env")
@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_a_failed_metrics_export_is_not_retried_and_opens_the_breaker(
    otlp_receiver: OtlpReceiver, protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    otlp_receiver.mode = "unavailable"
    endpoint = otlp_receiver.grpc_endpoint if protocol == "grpc" else otlp_receiver.http_endpoint
    meter = Meter(resolve_metrics(service_name="s", endpoint=endpoint, protocol=protocol))
    _export_one(meter)
    _export_one(meter)
    # The SDK backs off only before a retry, and a retry is a second request at the receiver:
    # one request is the proof that nothing waited (no wall-clock bound to race the machine).
    assert (meter.attempts, meter.dropped, meter.broken) == (1, 2, True)
    assert [r.status for r in otlp_receiver.metric_requests] == [
        "UNAVAILABLE" if protocol == "grpc" else "503"
    ]
    warnings = [r.getMessage() for r in caplog.records if "OTLP metrics endpoint" in r.getMessage()]
    assert len(warnings) == 1
    assert endpoint.split("//")[1] in warnings[0]


@pytest.mark.usefixtures("otel_env")
def test_the_receiver_keeps_metrics_apart_and_checks_their_bodies(
    otlp_receiver: OtlpReceiver,
) -> None:
    meter = Meter(resolve_metrics(service_name="s", endpoint=otlp_receiver.http_endpoint))
    _export_one(meter)
    url = otlp_receiver.http_endpoint + "/v1/metrics"
    bad = urllib.request.Request(  # noqa: S310 - a fixed http URL on 127.0.0.1
        url, data=b"\xff\xff not protobuf", headers={"Content-Type": "application/x-protobuf"}
    )
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(bad, timeout=5)  # noqa: S310 - as above
    answer.value.close()
    assert answer.value.code == 400
    assert [r.status for r in otlp_receiver.metric_requests] == ["200", "400"]
    assert otlp_receiver.requests == []
    (point,) = otlp_receiver.points_named("floe.test")
    assert (point.kind, point.value, point.temporality) == ("sum", 1, "DELTA")
    assert point.monotonic


@pytest.mark.usefixtures("otel_env")
@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_a_hanging_metrics_export_holds_the_exit_hook_at_most_its_bound(
    hanging_url: EndpointUrl, protocol: str
) -> None:
    # An export timeout far above the exit hook's bound: without the bound, the hook would wait
    # the 30 s, so the suite's scheduling allowance on top of the bound cannot hide it.
    target = resolve_metrics(service_name="s", endpoint=hanging_url, protocol=protocol, timeout=30)
    meter = Meter(target)
    meter.provider.get_meter("test").create_counter("floe.test").add(1)
    assert meter.export() is not None
    started = time.monotonic()
    shutdown_all()
    waited = time.monotonic() - started
    assert waited <= SHUTDOWN_SECONDS + NOISE_SECONDS, f"the exit hook waited {waited:.2f} s"
    assert hanging_url.connections == 1
    assert meter.broken, "abandoned: later exports of the process are dropped"


def test_hanging_span_and_metric_exports_share_one_exit_bound(hanging_url: EndpointUrl) -> None:
    """One deadline for every provider of the process, not one each: with a span export and a
    metrics export both hanging (30 s timeouts), the hook waits its bound once. The bound is
    raised to 8 s here so that one bound (8 s) and two (16 s) differ by more than the noise."""
    bound = 8.0
    spans = provider_for(TracingTarget(True, hanging_url, "http/protobuf", 30.0, {}))
    with spans.get_tracer("test").start_as_current_span("held"):
        pass
    meter = Meter(resolve_metrics(service_name="s", endpoint=hanging_url, timeout=30))
    meter.provider.get_meter("test").create_counter("floe.test").add(1)
    assert meter.export() is not None
    started = time.monotonic()
    shutdown_all(timeout=bound)
    waited = time.monotonic() - started
    assert bound - 0.5 <= waited <= bound + NOISE_SECONDS, f"the exit hook waited {waited:.2f} s"
    assert hanging_url.connections == 2, "both exports were under way"


def test_the_components_metrics_block_comes_before_the_environment(
    otel_env: pytest.MonkeyPatch,
) -> None:
    from floe_scaffold.components import FloeDbtProject

    otel_env.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://env:4318")
    settings = {"endpoint": "http://yaml:4317", "temporality": "cumulative", "timeout": 3}
    component = FloeDbtProject.model_validate({"metrics": settings})
    target = component._metrics_target(None, {"service.name": "svc", "floe.tenant_id": TENANT})
    assert (target.endpoint, target.protocol, target.timeout, target.temporality) == (
        "http://yaml:4317",
        "grpc",
        3.0,
        "cumulative",
    )
    assert target.resource == {"service.name": "svc", "floe.tenant_id": TENANT}
    off = FloeDbtProject.model_validate({"metrics": {"enabled": False}})
    assert not off._metrics_target(None, {"service.name": "svc"}).enabled
    with pytest.raises(ValueError, match=r"metrics\.timeout"):
        FloeDbtProject.model_validate({"metrics": {"timeout": 300}})
