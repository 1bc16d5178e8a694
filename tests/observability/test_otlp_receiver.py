"""The OTLP receiver, proven with the real OpenTelemetry SDK and both OTLP exporters.

What arrives must be what the SDK built (names, ids, parent links, attributes, resource, status,
exception events), over gRPC and HTTP/protobuf, plain or gzip. The failure modes must fail the way
generated code has to survive: with exporter ``timeout=1`` (seconds), a provider shutdown run in a
daemon thread returns in about a second whether the collector refuses, hangs, cannot be resolved
or answers UNAVAILABLE / 503. And the SDK's own behaviour the generated code relies on is pinned
here: endpoint path handling, TLS inferred from the gRPC endpoint, ``OTEL_SDK_DISABLED``.

Every test builds a private ``TracerProvider``; the global one is never set.
"""

from __future__ import annotations

import gzip
import http.client
import socket
import time
import zlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any, NamedTuple, Protocol

import grpc  # type: ignore[import-untyped]  # grpcio ships no type information
import pytest
from opentelemetry.exporter.otlp.proto.grpc import trace_exporter as grpc_exporter
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http import trace_exporter as http_exporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as ProtoResource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NoOpTracer, SpanKind, StatusCode
from opentelemetry.trace import Status as SpanStatus

from tests.observability.lineage_receiver import (
    hanging_endpoint,
    refused_endpoint,
    unresolvable_endpoint,
)
from tests.observability.otlp_receiver import (
    GRPC_EXPORT_METHOD,
    TRACES_PATH,
    OtlpProtocol,
    OtlpReceiver,
    ReceivedSpan,
    SpanEvent,
    decode_any_value,
    shutdown_in_thread,
)

pytestmark = pytest.mark.usefixtures("otel_env")

PROTOCOLS: tuple[OtlpProtocol, ...] = ("grpc", "http")
SERVICE = "floe-receiver-test"
#: What a loaded 2-core machine may add to any short wait (a thread can stall for seconds). Time
#: bounds here tell "bounded by the exporter's timeout" from "held" (the SDK defaults take 7-10 s
#: to give up on a broken collector, 30 s with a timeout misread as milliseconds), no finer.
SCHEDULING_SLACK = 5.0

# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def make_exporter(
    protocol: OtlpProtocol,
    url: str,
    *,
    timeout: float | None = None,
    gzip_body: bool = False,
    headers: dict[str, str] | None = None,
) -> SpanExporter:
    """An OTLP exporter for ``url`` (``http://host:port``; HTTP gets ``/v1/traces`` appended)."""
    if protocol == "grpc":
        return grpc_exporter.OTLPSpanExporter(
            endpoint=url,
            insecure=True,
            timeout=timeout,
            headers=headers,
            compression=grpc.Compression.Gzip if gzip_body else None,
        )
    return http_exporter.OTLPSpanExporter(
        endpoint=url + TRACES_PATH,
        timeout=timeout,
        headers=headers,
        compression=HttpCompression.Gzip if gzip_body else None,
    )


def receiver_url(receiver: OtlpReceiver, protocol: OtlpProtocol) -> str:
    return receiver.grpc_endpoint if protocol == "grpc" else receiver.http_endpoint


class ProviderFactory(Protocol):
    """What the ``make_provider`` fixture returns."""

    def __call__(
        self,
        *exporters: SpanExporter,
        memory: InMemorySpanExporter | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> TracerProvider: ...


@pytest.fixture
def make_provider() -> Iterator[ProviderFactory]:
    """Build private providers (``shutdown_on_exit=False``), shut down at teardown, bounded."""
    built: list[TracerProvider] = []

    def build(
        *exporters: SpanExporter,
        memory: InMemorySpanExporter | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> TracerProvider:
        resource = Resource.create(
            {"service.name": SERVICE, "floe.test.custom": "yes", **(attributes or {})}
        )
        provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        if memory is not None:
            provider.add_span_processor(SimpleSpanProcessor(memory))
        for exporter in exporters:
            provider.add_span_processor(BatchSpanProcessor(exporter))
        built.append(provider)
        return provider

    yield build
    for provider in built:  # idempotent when the test already shut it down
        timing = shutdown_in_thread(provider, join_timeout=5.0)
        assert timing.finished, "a provider shutdown hung at teardown"


def emit_trace(provider: TracerProvider) -> None:
    """``pipeline`` (SERVER) with children ``extract``, ``load`` and ``transform`` (ERROR)."""
    tracer = provider.get_tracer("floe.test.tracer", "9.9.9")
    with tracer.start_as_current_span(
        "pipeline", kind=SpanKind.SERVER, attributes={"dagster.run_id": "run-1"}
    ):
        with tracer.start_as_current_span(
            "extract",
            attributes={
                "dagster.asset_key": "raw/orders",
                "rows": 42,
                "ratio": 0.5,
                "incremental": True,
                "columns": ["id", "amount"],
            },
        ):
            pass
        with tracer.start_as_current_span("load", attributes={"dagster.asset_key": "stg/orders"}):
            pass
        with tracer.start_as_current_span(
            "transform", record_exception=False, set_status_on_exception=False
        ) as span:
            try:
                raise ValueError("boom")
            except ValueError as error:
                span.record_exception(error, attributes={"floe.phase": "dbt"})
                span.set_status(SpanStatus(StatusCode.ERROR, "model failed"))


def sdk_span(memory: InMemorySpanExporter, name: str) -> ReadableSpan:
    [span] = [span for span in memory.get_finished_spans() if span.name == name]
    return span


def hex_ids(span: ReadableSpan) -> tuple[str, str, str | None]:
    """(trace id, span id, parent span id) of an SDK span, as the receiver spells them."""
    context = span.context
    assert context is not None
    parent = format(span.parent.span_id, "016x") if span.parent is not None else None
    return format(context.trace_id, "032x"), format(context.span_id, "016x"), parent


def sdk_spans() -> list[ReadableSpan]:
    """The spans of :func:`emit_trace`, finished, from a throwaway provider (for direct exports)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    emit_trace(provider)
    provider.shutdown()
    return list(memory.get_finished_spans())


def post(
    url: str,
    body: bytes,
    headers: dict[str, str] | None = None,
    *,
    method: str = "POST",
    path: str = TRACES_PATH,
) -> int:
    """One raw HTTP request to the receiver; its status."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def tiny_request(name: str = "raw") -> ExportTraceServiceRequest:
    span = Span(
        name=name,
        trace_id=bytes(range(16)),
        span_id=bytes(range(8)),
        kind=Span.SpanKind.SPAN_KIND_CLIENT,
        status=Status(code=Status.StatusCode.STATUS_CODE_OK),
        start_time_unix_nano=1,
        end_time_unix_nano=3,
    )
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=ProtoResource(
                    attributes=[KeyValue(key="service.name", value=AnyValue(string_value="raw"))]
                ),
                scope_spans=[
                    ScopeSpans(scope=InstrumentationScope(name="raw-scope"), spans=[span])
                ],
            )
        ]
    )


PROTOBUF = {"Content-Type": "application/x-protobuf"}

# --------------------------------------------------------------------------------------------------
# The real SDK, both exporters
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sdk_trace_arrives_intact(
    otlp_receiver: OtlpReceiver, make_provider: ProviderFactory, protocol: OtlpProtocol
) -> None:
    memory = InMemorySpanExporter()
    provider = make_provider(
        make_exporter(protocol, receiver_url(otlp_receiver, protocol)), memory=memory
    )
    emit_trace(provider)
    assert provider.force_flush()

    spans = otlp_receiver.wait_for(4, timeout=5)
    assert sorted(span.name for span in spans) == ["extract", "load", "pipeline", "transform"]
    assert {span.protocol for span in spans} == {protocol}

    # Ids are exactly the SDK's, and the parent links hold.
    for span in spans:
        assert (span.trace_id, span.span_id, span.parent_span_id) == hex_ids(
            sdk_span(memory, span.name)
        )
    root = otlp_receiver.span("pipeline")
    assert root.is_root
    assert len(root.trace_id) == 32
    assert len(root.span_id) == 16
    children = otlp_receiver.children_of(root)
    assert sorted(child.name for child in children) == ["extract", "load", "transform"]
    assert all(child.trace_id == root.trace_id for child in children)
    assert all(child.parent_span_id == root.span_id for child in children)

    # Attributes keep their types; arrays come back as tuples, like the SDK's own.
    extract = otlp_receiver.span("extract")
    assert extract.attributes == {
        "dagster.asset_key": "raw/orders",
        "rows": 42,
        "ratio": 0.5,
        "incremental": True,
        "columns": ("id", "amount"),
    }
    assert root.attributes == {"dagster.run_id": "run-1"}
    assert root.kind == "SERVER"
    assert extract.kind == "INTERNAL"
    assert extract.status_code == "UNSET"
    assert root.start_ns <= extract.start_ns <= extract.end_ns <= root.end_ns
    assert extract.duration_ns >= 0

    # Resource and scope.
    for span in spans:
        assert span.resource["service.name"] == SERVICE
        assert span.resource["floe.test.custom"] == "yes"
        assert span.resource["telemetry.sdk.language"] == "python"
        assert (span.scope_name, span.scope_version) == ("floe.test.tracer", "9.9.9")

    # The failed span: status and the exception event from record_exception.
    failed = otlp_receiver.span("transform")
    assert (failed.status_code, failed.status_message) == ("ERROR", "model failed")
    [event] = failed.events_named("exception")
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "boom"
    assert "Traceback" in event.attributes["exception.stacktrace"]
    assert event.attributes["floe.phase"] == "dbt"
    assert failed.events == [SpanEvent("exception", event.attributes)]

    requests = otlp_receiver.requests
    assert requests
    assert all(request.accepted for request in requests)
    expected_path = GRPC_EXPORT_METHOD if protocol == "grpc" else TRACES_PATH
    assert {request.path for request in requests} == {expected_path}
    assert sum(request.span_count for request in requests) == 4


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_escaping_exception_sets_error_status_by_default(
    otlp_receiver: OtlpReceiver, make_provider: ProviderFactory, protocol: OtlpProtocol
) -> None:
    """``start_as_current_span`` records an escaping exception itself: ``"Type: message"``."""
    provider = make_provider(make_exporter(protocol, receiver_url(otlp_receiver, protocol)))
    tracer = provider.get_tracer("floe.test")
    with pytest.raises(RuntimeError), tracer.start_as_current_span("asset"):
        raise RuntimeError("warehouse down")
    provider.force_flush()
    span = otlp_receiver.wait_for_span("asset")
    assert (span.status_code, span.status_message) == ("ERROR", "RuntimeError: warehouse down")
    assert [event.name for event in span.events] == ["exception"]
    assert span.events[0].attributes["exception.type"] == "RuntimeError"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_gzip_and_headers(
    otlp_receiver: OtlpReceiver, make_provider: ProviderFactory, protocol: OtlpProtocol
) -> None:
    exporter = make_exporter(
        protocol,
        receiver_url(otlp_receiver, protocol),
        gzip_body=True,
        headers={"x-floe-token": "t0ken"},
    )
    provider = make_provider(exporter)
    emit_trace(provider)
    provider.force_flush()
    assert len(otlp_receiver.wait_for(4)) == 4
    [request] = otlp_receiver.requests
    assert request.headers["x-floe-token"] == "t0ken"
    if protocol == "http":
        assert request.content_encoding == "gzip"
        assert request.headers["content-type"] == "application/x-protobuf"
    else:  # grpcio decompresses before the servicer and hides grpc-* metadata from it
        assert request.content_encoding is None
        assert request.headers["user-agent"].startswith("OTel-OTLP-Exporter-Python/")


def test_shutdown_exports_what_is_still_queued(
    otlp_receiver: OtlpReceiver, make_provider: ProviderFactory
) -> None:
    """No force_flush: the batch processor's 5 s delay has not passed, shutdown sends the rest."""
    provider = make_provider(
        make_exporter("grpc", otlp_receiver.grpc_endpoint),
        make_exporter("http", otlp_receiver.http_endpoint),
    )
    emit_trace(provider)
    assert otlp_receiver.spans == []
    timing = shutdown_in_thread(provider, join_timeout=2 * SCHEDULING_SLACK)
    assert timing.finished
    assert timing.error is None
    spans = otlp_receiver.wait_for(8, timeout=2)
    assert sorted({(span.name, span.protocol) for span in spans}) == sorted(
        (name, protocol)
        for name in ("pipeline", "extract", "load", "transform")
        for protocol in PROTOCOLS
    )


# --------------------------------------------------------------------------------------------------
# Endpoint handling of the exporters
# --------------------------------------------------------------------------------------------------

BASE_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
TRACES_ENV = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"


class EndpointCase(NamedTuple):
    """How an exporter is pointed at the receiver, and the path it then requests.

    ``{grpc}``, ``{http}`` and ``{traces}`` stand for ``grpc_endpoint``, ``http_endpoint`` and
    ``http_traces_url``.
    """

    id: str
    protocol: OtlpProtocol
    endpoint: str | None  # the exporter's endpoint= argument
    env: dict[str, str]
    path: str


ENDPOINT_CASES = [
    EndpointCase("http-arg-traces-url", "http", "{traces}", {}, TRACES_PATH),
    EndpointCase("http-arg-base-url-is-used-as-given", "http", "{http}", {}, "/"),
    EndpointCase("http-env-base-gets-v1-traces", "http", None, {BASE_ENV: "{http}"}, TRACES_PATH),
    EndpointCase("http-env-base-with-slash", "http", None, {BASE_ENV: "{http}/"}, TRACES_PATH),
    EndpointCase(
        "http-env-base-with-path-doubles-it",
        "http",
        None,
        {BASE_ENV: "{traces}"},
        TRACES_PATH + TRACES_PATH,
    ),
    EndpointCase("http-env-traces-as-given", "http", None, {TRACES_ENV: "{http}"}, "/"),
    EndpointCase("http-env-traces-full", "http", None, {TRACES_ENV: "{traces}"}, TRACES_PATH),
    EndpointCase(
        "http-env-traces-wins-over-base",
        "http",
        None,
        {BASE_ENV: "http://127.0.0.1:9", TRACES_ENV: "{traces}"},
        TRACES_PATH,
    ),
    EndpointCase("grpc-arg", "grpc", "{grpc}", {}, GRPC_EXPORT_METHOD),
    EndpointCase("grpc-arg-path-ignored", "grpc", "{grpc}/v1/traces", {}, GRPC_EXPORT_METHOD),
    EndpointCase("grpc-env-base", "grpc", None, {BASE_ENV: "{grpc}"}, GRPC_EXPORT_METHOD),
    EndpointCase("grpc-env-traces", "grpc", None, {TRACES_ENV: "{grpc}"}, GRPC_EXPORT_METHOD),
]


@pytest.mark.parametrize(
    ("protocol", "endpoint", "env", "path"),
    [case[1:] for case in ENDPOINT_CASES],
    ids=[case.id for case in ENDPOINT_CASES],
)
def test_exporter_endpoint_resolution(
    otlp_receiver: OtlpReceiver,
    otel_env: pytest.MonkeyPatch,
    protocol: OtlpProtocol,
    endpoint: str | None,
    env: dict[str, str],
    path: str,
) -> None:
    """Which path each way of configuring the endpoint really hits; only the right one delivers."""

    def fill(template: str) -> str:
        return template.format(
            grpc=otlp_receiver.grpc_endpoint,
            http=otlp_receiver.http_endpoint,
            traces=otlp_receiver.http_traces_url,
        )

    for name, value in env.items():
        otel_env.setenv(name, fill(value))
    exporter: SpanExporter
    if protocol == "grpc":  # no insecure=: an http:// endpoint implies it
        exporter = grpc_exporter.OTLPSpanExporter(
            endpoint=fill(endpoint) if endpoint else None, timeout=2
        )
    else:
        exporter = http_exporter.OTLPSpanExporter(
            endpoint=fill(endpoint) if endpoint else None, timeout=2
        )
    spans = sdk_spans()
    try:
        result = exporter.export(spans)
    finally:
        exporter.shutdown()
    [request] = otlp_receiver.wait_for_requests(1, timeout=3)
    assert request.path == path
    delivered = path in {TRACES_PATH, GRPC_EXPORT_METHOD}
    assert request.accepted is delivered
    assert (result is SpanExportResult.SUCCESS) is delivered
    assert len(otlp_receiver.spans) == (4 if delivered else 0)


def test_http_exporter_drops_a_404_without_retry_and_force_flush_still_says_true(
    otlp_receiver: OtlpReceiver, make_provider: ProviderFactory
) -> None:
    """A misconfigured path loses every span silently: force_flush() reports True regardless."""
    provider = make_provider(http_exporter.OTLPSpanExporter(endpoint=otlp_receiver.http_endpoint))
    emit_trace(provider)
    assert provider.force_flush() is True
    assert [(r.path, r.status) for r in otlp_receiver.requests] == [("/", "404")]
    assert otlp_receiver.spans == []


def test_grpc_endpoint_without_scheme_means_tls(otlp_receiver: OtlpReceiver) -> None:
    """``host:port`` with no scheme and no ``insecure=``: the exporter speaks TLS and never arrives.

    With ``insecure=True`` the same endpoint works. Generated code must pass ``insecure`` (or an
    ``http://`` endpoint) for a plaintext collector.
    """
    bare = f"127.0.0.1:{otlp_receiver.grpc_port}"
    spans = sdk_spans()

    tls = grpc_exporter.OTLPSpanExporter(endpoint=bare, timeout=1)
    started = time.perf_counter()
    try:
        assert tls.export(spans) is SpanExportResult.FAILURE
    finally:
        tls.shutdown()
    assert time.perf_counter() - started < 1 + SCHEDULING_SLACK  # the 1 s timeout, not a hang
    assert otlp_receiver.requests == []

    plain = grpc_exporter.OTLPSpanExporter(endpoint=bare, insecure=True, timeout=2)
    try:
        assert plain.export(spans) is SpanExportResult.SUCCESS
    finally:
        plain.shutdown()
    assert len(otlp_receiver.wait_for(4)) == 4


# --------------------------------------------------------------------------------------------------
# Failure modes: bounded shutdown with timeout=1
# --------------------------------------------------------------------------------------------------

FAILURES = ["refused", "hanging", "unresolvable", "unavailable"]


def failure_url(
    kind: str, protocol: OtlpProtocol, receiver: OtlpReceiver
) -> AbstractContextManager[str]:
    if kind == "refused":
        return refused_endpoint()
    if kind == "hanging":
        return hanging_endpoint(max_seconds=30)
    if kind == "unresolvable":
        return unresolvable_endpoint()
    receiver.mode = "unavailable"  # the running receiver itself refuses every export
    return nullcontext(receiver_url(receiver, protocol))


@pytest.mark.parametrize("kind", FAILURES)
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_bounded_shutdown_with_a_broken_collector(
    otlp_receiver: OtlpReceiver, make_provider: ProviderFactory, protocol: OtlpProtocol, kind: str
) -> None:
    """20 queued spans, exporter ``timeout=1``: shutdown returns in about 1 s, never raises.

    The exporter's retries (backoff 1, 2, 4 ... s) all live inside that one-second deadline. The
    bound allows a loaded machine's stalls (:data:`SCHEDULING_SLACK`) and still tells it from
    the default 10 s timeout (7-10 s).
    """
    with failure_url(kind, protocol, otlp_receiver) as url:
        provider = make_provider(make_exporter(protocol, url, timeout=1))
        tracer = provider.get_tracer("floe.test")
        started = time.perf_counter()
        for index in range(20):
            with tracer.start_as_current_span(f"span-{index}"):
                pass
        # span.end() only enqueues (an export per span would take 20 s with a hanging collector).
        assert time.perf_counter() - started < SCHEDULING_SLACK
        timing = shutdown_in_thread(provider, join_timeout=1 + SCHEDULING_SLACK)
    assert timing.finished, f"shutdown still running after {timing.seconds:.2f} s"
    assert timing.error is None
    assert otlp_receiver.spans == []
    if kind == "unavailable":
        statuses = {request.status for request in otlp_receiver.requests}
        assert statuses == ({"UNAVAILABLE"} if protocol == "grpc" else {"503"})
        assert all(request.span_count == 20 for request in otlp_receiver.requests)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_unavailable_then_ok_delivers(otlp_receiver: OtlpReceiver, protocol: OtlpProtocol) -> None:
    """The mode switches while running; the same exporter succeeds once the receiver is back."""
    spans = sdk_spans()
    exporter = make_exporter(protocol, receiver_url(otlp_receiver, protocol), timeout=1)
    try:
        otlp_receiver.mode = "unavailable"
        assert exporter.export(spans) is SpanExportResult.FAILURE
        assert otlp_receiver.spans == []
        refused = otlp_receiver.requests
        assert refused
        assert not any(request.accepted for request in refused)
        otlp_receiver.mode = "ok"
        assert exporter.export(spans) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert len(otlp_receiver.wait_for(4)) == 4
    assert otlp_receiver.requests[-1].accepted


# --------------------------------------------------------------------------------------------------
# OTEL_SDK_DISABLED
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "disabled"),
    [
        ("true", True),
        ("TRUE", True),
        (" True ", True),
        ("1", False),
        ("yes", False),
        ("false", False),
        ("", False),
    ],
)
def test_sdk_disabled_values(otel_env: pytest.MonkeyPatch, value: str, disabled: bool) -> None:
    """Only ``true`` (any case, surrounding blanks ignored) disables; ``1``/``yes`` do not."""
    otel_env.setenv("OTEL_SDK_DISABLED", value)
    tracer = TracerProvider(shutdown_on_exit=False).get_tracer("floe.test")
    assert isinstance(tracer, NoOpTracer) is disabled


def test_sdk_disabled_yields_noop_tracers_from_the_sdk_provider(
    otlp_receiver: OtlpReceiver, otel_env: pytest.MonkeyPatch, make_provider: ProviderFactory
) -> None:
    """``OTEL_SDK_DISABLED=true``: the SDK ``TracerProvider`` is still built (it is *not* the API's
    ``NoOpTracerProvider``) and accepts processors, but every ``get_tracer`` returns the API's
    ``NoOpTracer``: spans are non-recording with an invalid context, nothing is exported.
    Exporters ignore the variable: a direct ``export`` still sends.
    """
    recorded = InMemorySpanExporter()
    built_before = make_provider(memory=recorded)  # enabled: built before the variable is set
    otel_env.setenv("OTEL_SDK_DISABLED", "true")

    provider = make_provider(
        make_exporter("grpc", otlp_receiver.grpc_endpoint),
        make_exporter("http", otlp_receiver.http_endpoint),
    )
    assert type(provider) is TracerProvider
    tracer = provider.get_tracer("floe.test")
    assert isinstance(tracer, NoOpTracer)
    with tracer.start_as_current_span("invisible", attributes={"a": 1}) as span:
        assert not span.is_recording()
        assert not span.get_span_context().is_valid
    emit_trace(provider)
    assert provider.force_flush()
    timing = shutdown_in_thread(provider, join_timeout=SCHEDULING_SLACK)
    assert timing.finished  # nothing to export, nothing to wait for
    assert otlp_receiver.requests == []
    assert sdk_spans() == []

    # Still set: a provider built earlier records, and the exporter sends.
    emit_trace(built_before)
    spans = recorded.get_finished_spans()
    assert len(spans) == 4
    direct = make_exporter("http", otlp_receiver.http_endpoint)
    try:
        assert direct.export(spans) is SpanExportResult.SUCCESS
    finally:
        direct.shutdown()
    assert len(otlp_receiver.wait_for(4)) == 4


def test_sdk_disabled_is_read_once_when_the_provider_is_built(
    otel_env: pytest.MonkeyPatch,
) -> None:
    otel_env.setenv("OTEL_SDK_DISABLED", "true")
    disabled = TracerProvider(shutdown_on_exit=False)
    otel_env.delenv("OTEL_SDK_DISABLED")
    assert isinstance(disabled.get_tracer("later"), NoOpTracer)

    enabled = TracerProvider(shutdown_on_exit=False)
    otel_env.setenv("OTEL_SDK_DISABLED", "true")
    assert not isinstance(enabled.get_tracer("later"), NoOpTracer)


# --------------------------------------------------------------------------------------------------
# The receiver on its own
# --------------------------------------------------------------------------------------------------


def test_http_routes_and_bad_bodies(otlp_receiver: OtlpReceiver) -> None:
    url = otlp_receiver.http_endpoint
    good = tiny_request().SerializeToString()
    assert post(url, good, PROTOBUF, method="GET") == 405
    assert post(url, good, PROTOBUF, path="/v1/logs") == 404
    assert post(url, good, {"Content-Type": "application/json"}) == 415
    assert post(url, b"\xff\xff\xff not protobuf", PROTOBUF) == 400
    assert post(url, b"not gzip", {**PROTOBUF, "Content-Encoding": "gzip"}) == 400
    assert post(url, good, {**PROTOBUF, "Content-Encoding": "br"}) == 400
    assert otlp_receiver.spans == []
    assert post(url, good, {**PROTOBUF, "Content-Type": "application/x-protobuf; v=1"}) == 200
    assert post(url, gzip.compress(good), {**PROTOBUF, "Content-Encoding": "gzip"}) == 200
    assert post(url, zlib.compress(good), {**PROTOBUF, "Content-Encoding": "deflate"}) == 200
    assert [r.status for r in otlp_receiver.requests] == [
        "405", "404", "415", "400", "400", "400", "200", "200", "200",
    ]  # fmt: skip
    assert [r.content_encoding for r in otlp_receiver.requests[-3:]] == [None, "gzip", "deflate"]

    span = otlp_receiver.spans[0]
    assert span == ReceivedSpan(
        name="raw",
        trace_id="000102030405060708090a0b0c0d0e0f",
        span_id="0001020304050607",
        parent_span_id=None,
        kind="CLIENT",
        attributes={},
        resource={"service.name": "raw"},
        status_code="OK",
        status_message="",
        events=[],
        start_ns=1,
        end_ns=3,
        scope_name="raw-scope",
        protocol="http",
        received_at=span.received_at,
    )
    assert len(otlp_receiver.spans) == 3


def test_unavailable_http_answers_503(otlp_receiver: OtlpReceiver) -> None:
    otlp_receiver.mode = "unavailable"
    assert post(otlp_receiver.http_endpoint, tiny_request().SerializeToString(), PROTOBUF) == 503
    [request] = otlp_receiver.requests
    assert (request.status, request.span_count, request.accepted) == ("503", 1, False)
    assert otlp_receiver.spans == []


def test_decode_any_value() -> None:
    assert decode_any_value(AnyValue()) is None
    assert decode_any_value(AnyValue(bytes_value=b"\x00\x01")) == b"\x00\x01"
    assert decode_any_value(AnyValue(int_value=-7)) == -7
    nested = AnyValue(
        array_value=ArrayValue(
            values=[
                AnyValue(string_value="a"),
                AnyValue(array_value=ArrayValue(values=[AnyValue(bool_value=False)])),
                AnyValue(
                    kvlist_value=KeyValueList(
                        values=[KeyValue(key="k", value=AnyValue(double_value=1.5))]
                    )
                ),
            ]
        )
    )
    assert decode_any_value(nested) == ("a", (False,), {"k": 1.5})


def test_mode_is_validated() -> None:
    with pytest.raises(ValueError, match="unknown mode 'broken'"):
        OtlpReceiver(mode="broken")  # type: ignore[arg-type]
    receiver = OtlpReceiver()
    with pytest.raises(ValueError, match="unknown mode"):
        receiver.mode = "down"  # type: ignore[assignment]
    assert receiver.mode == "ok"


def test_waits_are_bounded_and_explain(otlp_receiver: OtlpReceiver) -> None:
    assert post(otlp_receiver.http_endpoint, tiny_request("one").SerializeToString(), PROTOBUF)
    started = time.perf_counter()
    with pytest.raises(TimeoutError, match=r"waited 0.3 s for at least 2 span\(s\).*'one'"):
        otlp_receiver.wait_for(2, timeout=0.3)
    with pytest.raises(TimeoutError, match="a span named 'two'"):
        otlp_receiver.wait_for_span("two", timeout=0.1)
    with pytest.raises(TimeoutError, match="export request"):
        otlp_receiver.wait_for_requests(5, timeout=0.1)
    assert time.perf_counter() - started < 0.5 + SCHEDULING_SLACK
    with pytest.raises(LookupError, match="exactly one span named 'two', found 0"):
        otlp_receiver.span("two")
    assert otlp_receiver.wait_for_span("one").name == "one"
    otlp_receiver.clear()
    assert (otlp_receiver.spans, otlp_receiver.requests) == ([], [])


def _port_refuses(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_lifecycle_and_ports() -> None:
    receiver = OtlpReceiver()
    assert not receiver.is_running()
    with pytest.raises(RuntimeError, match="not running"):
        _ = receiver.grpc_endpoint
    with pytest.raises(RuntimeError, match="not running"):
        _ = receiver.http_traces_url
    with receiver:
        assert receiver.is_running()
        grpc_port, http_port = receiver.grpc_port, receiver.http_port
        assert grpc_port != http_port
        assert receiver.grpc_endpoint == f"http://127.0.0.1:{grpc_port}"
        assert receiver.http_traces_url == f"http://127.0.0.1:{http_port}/v1/traces"
        assert receiver.env("http") == {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{http_port}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        }
        assert receiver.env("grpc")["OTEL_EXPORTER_OTLP_PROTOCOL"] == "grpc"
        assert not _port_refuses(grpc_port)
        assert not _port_refuses(http_port)
        with pytest.raises(RuntimeError, match="already running"):
            receiver.start()
    started = time.perf_counter()
    receiver.stop()  # idempotent
    assert time.perf_counter() - started < SCHEDULING_SLACK
    assert not receiver.is_running()
    assert _port_refuses(grpc_port)
    assert _port_refuses(http_port)
