"""OpenTelemetry from real runs of a generated project, received by a real OTLP receiver."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from floe_scaffold.project import init_project
from floe_scaffold.tracing import resolve_tracing
from tests.observability.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.project.conftest import DEMO_ASSETS, floe_run

MATERIALIZED = DEMO_ASSETS


@pytest.fixture(scope="module")
def tracing_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("tracing") / "shop"
    init_project(dest, git=False)
    done = floe_run(dest, {"OTEL_SDK_DISABLED": "true"}, "--select", "raw_orders")
    assert done.returncode == 0, done.stdout + done.stderr
    return dest


@pytest.fixture
def project(tracing_project: Path, tmp_path: Path) -> Iterator[Path]:
    copy = tmp_path / "shop"
    shutil.copytree(tracing_project, copy, ignore=shutil.ignore_patterns("*.duckdb", "lineage"))
    yield copy


def _materializations(spans: list[ReceivedSpan]) -> dict[str, ReceivedSpan]:
    return {
        s.attributes["dagster.asset_key"]: s for s in spans if s.name.startswith("materialize ")
    }


@pytest.mark.slow
@pytest.mark.requirement("FR-016")
@pytest.mark.requirement("FR-017")
@pytest.mark.requirement("FR-018")
@pytest.mark.requirement("FR-020")
@pytest.mark.requirement("SC-005")
@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_a_span_per_materialization_under_the_step_span(
    project: Path, otlp_receiver: OtlpReceiver, protocol: str
) -> None:
    endpoint = otlp_receiver.grpc_endpoint if protocol == "grpc" else otlp_receiver.http_endpoint
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": protocol}
    done = floe_run(project, env)
    assert done.returncode == 0, done.stdout + done.stderr
    spans = otlp_receiver.wait_for(len(MATERIALIZED) + 1, timeout=10)
    step = otlp_receiver.span("dbt build shop")
    nodes = _materializations(spans)
    assert set(nodes) == MATERIALIZED, "SC-005: every materialization has a span"
    for key, span in nodes.items():
        assert span.name == f"materialize {key}"
        assert span.trace_id == step.trace_id
        assert span.parent_span_id == step.span_id
        assert span.status_code == "OK"
        assert span.attributes["floe.compute_target"] == "duckdb"
        assert span.attributes["floe.status"] == "success"
        assert span.attributes["dbt.unique_id"].endswith(f".{key}")
        assert span.duration_ns > 0
        assert span.protocol == ("grpc" if protocol == "grpc" else "http")
        assert span.resource["service.name"] == "shop"
        assert span.resource["deployment.environment"] == "development"
    assert nodes["raw_orders"].attributes["dbt.rows_affected"] == 6
    assert step.attributes["floe.materializations"] == len(MATERIALIZED)


@pytest.mark.slow
def test_a_failing_model_gets_an_error_span_with_dbts_message(
    project: Path, otlp_receiver: OtlpReceiver
) -> None:
    (project / "dbt/models/marts/orders.sql").write_text(
        "select order_id, no_such_column from {{ ref('stg_orders') }}\n", encoding="utf-8"
    )
    done = floe_run(project, {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.http_endpoint})
    assert done.returncode == 1
    otlp_receiver.wait_for_span("materialize orders", timeout=10)
    orders = otlp_receiver.span("materialize orders")
    assert orders.status_code == "ERROR"
    (exception,) = orders.events_named("exception")
    assert "no_such_column" in exception.attributes["exception.message"]
    assert "materialize customers" not in {s.name for s in otlp_receiver.spans}, "skipped"
    step = otlp_receiver.wait_for_span("dbt build shop", timeout=10)
    assert step.status_code == "ERROR"


@pytest.mark.slow
@pytest.mark.requirement("FR-019")
@pytest.mark.requirement("SC-008")
def test_logs_spans_and_lineage_lead_to_each_other(
    project: Path, otlp_receiver: OtlpReceiver
) -> None:
    done = floe_run(
        project,
        {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.http_endpoint},
        "--log-format",
        "json",
    )
    assert done.returncode == 0, done.stderr
    otlp_receiver.wait_for(len(MATERIALIZED) + 1, timeout=10)
    spans = _materializations(otlp_receiver.spans)
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    run_lines = [line for line in lines if line["logger"] == "floe_scaffold.run"]
    assert len(run_lines) == len(MATERIALIZED)
    events = [
        json.loads(line)
        for line in (project / ".floe/lineage/events.jsonl").read_text().splitlines()
    ]
    for line in run_lines:
        # log line -> span
        span = next(s for s in spans.values() if s.span_id == line["span_id"])
        assert span.trace_id == line["trace_id"]
        # span -> OpenLineage run -> back to the span
        run_id = span.attributes["openlineage.run_id"]
        assert run_id == line["openlineage_run_id"]
        lineage = [e for e in events if e["run"]["runId"] == run_id]
        assert {e["eventType"] for e in lineage} == {"START", "COMPLETE"}
        for event in lineage:
            correlation = event["run"]["facets"]["traceCorrelation"]
            assert (correlation["traceId"], correlation["spanId"]) == (span.trace_id, span.span_id)


@pytest.mark.slow
@pytest.mark.requirement("FR-022")
@pytest.mark.requirement("SC-006")
@pytest.mark.parametrize("endpoint", ["refused_url", "hanging_url", "unavailable"])
def test_a_broken_collector_never_fails_or_holds_the_run(
    project: Path, endpoint: str, request: pytest.FixtureRequest, otlp_receiver: OtlpReceiver
) -> None:
    if endpoint == "unavailable":
        otlp_receiver.mode = "unavailable"
        url = otlp_receiver.http_endpoint
    else:
        url = request.getfixturevalue(endpoint)
    started = time.monotonic()
    baseline = floe_run(project, {"OTEL_SDK_DISABLED": "true"})
    off = time.monotonic() - started
    started = time.monotonic()
    done = floe_run(project, {"OTEL_EXPORTER_OTLP_ENDPOINT": url})
    broken = time.monotonic() - started
    assert baseline.returncode == 0
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert broken - off < 6.0, f"tracing added {broken - off:.1f} s"


@pytest.mark.slow
def test_sdk_disabled_exports_nothing(project: Path, otlp_receiver: OtlpReceiver) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.http_endpoint, "OTEL_SDK_DISABLED": "true"}
    done = floe_run(project, env)
    assert done.returncode == 0, done.stderr
    time.sleep(0.5)
    assert otlp_receiver.requests == []


def test_resolution_precedence(otel_env: pytest.MonkeyPatch) -> None:
    target = resolve_tracing(service_name="s", contract_endpoint="http://collector:4317")
    assert (target.endpoint, target.protocol, target.timeout) == (
        "http://collector:4317",
        "grpc",
        2.0,
    )
    assert resolve_tracing(service_name="s").exports is False
    assert resolve_tracing(service_name="s").enabled is True
    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")
    otel_env.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "5")
    target = resolve_tracing(service_name="s", contract_endpoint="http://contract:4317")
    assert (target.endpoint, target.protocol, target.timeout) == (
        "http://collector:4318",
        "http/protobuf",
        5.0,
    )
    target = resolve_tracing(service_name="s", endpoint="http://yaml:1", protocol="grpc")
    assert (target.endpoint, target.protocol) == ("http://yaml:1", "grpc")
    assert not resolve_tracing(service_name="s", contract_enabled=False).enabled
    otel_env.setenv("OTEL_SDK_DISABLED", "true")
    assert not resolve_tracing(service_name="s", enabled=True).enabled
    target = resolve_tracing(service_name="svc", attributes={"tenant": "acme"})
    assert target.resource == {"service.name": "svc", "tenant": "acme"}
