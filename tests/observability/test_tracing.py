"""OpenTelemetry from real runs of a generated project, received by a real OTLP receiver."""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from floe_scaffold.project import init_project
from floe_scaffold.tracing import (
    SHUTDOWN_SECONDS,
    TracingTarget,
    provider_for,
    resolve_tracing,
    shutdown_all,
)
from floe_scaffold.tracing._guard import GuardedExporter
from floe_scaffold.tracing._provider import _exporter, guards
from tests.observability.lineage_receiver import EndpointUrl
from tests.observability.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.observability.paired_runs import added_bound, copy_project, run_alongside
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
    project: Path,
    tmp_path: Path,
    tracing_project: Path,
    endpoint: str,
    request: pytest.FixtureRequest,
    otlp_receiver: OtlpReceiver,
) -> None:
    """Structure first: one export reaches the broken collector (no retry, then the breaker),
    one warning names it. Time only against a baseline run started alongside (see
    :mod:`tests.observability.paired_runs`): a collector held per batch would add 2 s a batch,
    the SDK's own exit 7-10 s."""
    if endpoint == "unavailable":
        otlp_receiver.mode = "unavailable"
        url = otlp_receiver.http_endpoint
    else:
        url = request.getfixturevalue(endpoint)
    baseline = copy_project(tracing_project, tmp_path / "base")
    # Metrics off: they would reach the same endpoint (tests/observability/test_metrics.py).
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": url, "OTEL_METRICS_EXPORTER": "none"}
    paired = run_alongside(project, env, baseline, {"OTEL_SDK_DISABLED": "true"})
    done = paired.done
    assert paired.baseline.returncode == 0, paired.baseline.stderr[-3000:]
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "retrying in" not in done.stderr, "the exporter waited to retry"
    warnings = [line for line in done.stderr.splitlines() if "OTLP endpoint" in line]
    assert len(warnings) == 1, done.stderr[-3000:]
    assert url.split("//")[1] in warnings[0]
    if endpoint == "unavailable":
        assert [r.status for r in otlp_receiver.requests] == ["503"], "one export, not retried"
    elif endpoint == "hanging_url":
        assert isinstance(url, EndpointUrl)
        assert url.connections == 1, "one export, not retried"
    bound = added_bound(SHUTDOWN_SECONDS, paired.baseline_seconds)
    assert paired.added <= bound, (
        f"tracing added {paired.added:.1f} s to a {paired.baseline_seconds:.1f} s run "
        f"started alongside (allowed {bound:.1f} s)"
    )


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


# --------------------------------------------------------------------------------------------------
# The exporter floe builds: no retry with backoff, a per-process breaker, a bounded exit
# --------------------------------------------------------------------------------------------------


def _finished_spans(count: int = 3) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("floe.test")
    for index in range(count):
        with tracer.start_as_current_span(f"span-{index}"):
            pass
    return list(memory.get_finished_spans())


def _guarded(endpoint: str, protocol: str, timeout: float = 5.0) -> GuardedExporter:
    """floe's exporter for ``endpoint``, as ``provider_for`` builds it."""
    target = TracingTarget(True, endpoint, protocol, timeout, {"service.name": "t"})
    return GuardedExporter(_exporter(target), endpoint, timeout)


#: Requests one failed export makes, per mode: the HTTP exporter's immediate reconnect after a
#: connection error, then nothing. The exporter alone (timeout 5 s) retries with backoff (1, 2 s).
HTTP_FAILURES = {"close": 2, "garbage": 2, "unavailable": 1}


@pytest.mark.parametrize("mode", sorted(HTTP_FAILURES))
def test_a_failed_http_export_is_not_retried_and_opens_the_breaker(
    otlp_receiver: OtlpReceiver, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    otlp_receiver.mode = mode  # type: ignore[assignment]  # an OtlpReceiverMode
    exporter = _guarded(otlp_receiver.http_endpoint, "http/protobuf")
    spans = _finished_spans()
    try:
        with caplog.at_level(logging.WARNING, logger="floe_scaffold.tracing"):
            assert exporter.export(spans) is SpanExportResult.FAILURE
            assert len(otlp_receiver.requests) == HTTP_FAILURES[mode], otlp_receiver.requests
            assert exporter.broken
            assert exporter.export(spans) is SpanExportResult.FAILURE  # dropped, not sent
    finally:
        exporter.shutdown()
    assert len(otlp_receiver.requests) == HTTP_FAILURES[mode]
    assert (exporter.attempts, exporter.dropped) == (1, 2 * len(spans))
    warnings = [r.getMessage() for r in caplog.records if "OTLP endpoint" in r.getMessage()]
    assert len(warnings) == 1
    assert otlp_receiver.http_endpoint in warnings[0]


def test_an_unavailable_grpc_collector_gets_one_request(otlp_receiver: OtlpReceiver) -> None:
    otlp_receiver.mode = "unavailable"
    exporter = _guarded(otlp_receiver.grpc_endpoint, "grpc")
    try:
        assert exporter.export(_finished_spans()) is SpanExportResult.FAILURE
        assert exporter.export(_finished_spans()) is SpanExportResult.FAILURE
    finally:
        exporter.shutdown()
    assert [r.status for r in otlp_receiver.requests] == ["UNAVAILABLE"]


def test_a_healthy_collector_gets_every_batch(otlp_receiver: OtlpReceiver) -> None:
    for endpoint, protocol in (
        (otlp_receiver.http_endpoint, "http/protobuf"),
        (otlp_receiver.grpc_endpoint, "grpc"),
    ):
        exporter = _guarded(endpoint, protocol)
        try:
            for _ in range(3):
                assert exporter.export(_finished_spans()) is SpanExportResult.SUCCESS
        finally:
            exporter.shutdown()
        assert (exporter.attempts, exporter.dropped, exporter.broken) == (3, 0, False)
    assert len(otlp_receiver.wait_for(18)) == 18


def test_the_exit_hook_does_not_wait_for_an_export_stuck_past_its_timeout(
    otlp_receiver: OtlpReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    """The collector drips its answer, a byte per 0.5 s (40 s): each read comes within the 1 s
    timeout, the export outlives it, so the exit hook, given a minute, gives up on it at once and
    says so."""
    otlp_receiver.mode = "slow_drip"
    otlp_receiver.drip_interval = 0.5
    target = TracingTarget(True, otlp_receiver.http_endpoint, "http/protobuf", 1.0, {"a": "b"})
    provider = provider_for(target)
    with provider.get_tracer("floe.test").start_as_current_span("held"):
        pass
    # force_flush exports on this thread and would wait for the whole drip: run it aside.
    threading.Thread(target=provider.force_flush, daemon=True).start()
    otlp_receiver.wait_for_requests(1, timeout=30)
    (guard,) = [g for g in guards() if g.label == otlp_receiver.http_endpoint]
    deadline = time.monotonic() + 30
    while not guard.stuck and time.monotonic() < deadline:
        time.sleep(0.05)
    assert guard.stuck
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="floe_scaffold.tracing"):
        shutdown_all(timeout=60)
    assert time.monotonic() - started < 20, "the exit hook waited for the drip"
    assert guard.broken
    warnings = [r.getMessage() for r in caplog.records if "OTLP endpoint" in r.getMessage()]
    assert len(warnings) == 1
    assert "has not answered an export" in warnings[0]
    assert len(otlp_receiver.requests) == 1
