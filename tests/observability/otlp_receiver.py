"""OpenTelemetry test infrastructure: an in-process OTLP trace and metrics receiver (gRPC + HTTP).

* :class:`OtlpReceiver` runs, on ``127.0.0.1`` and free ports, a ``grpcio`` ``TraceService`` and a
  threaded ``http.server`` answering ``POST /v1/traces`` (``application/x-protobuf``, optionally
  gzip- or deflate-encoded). Both decode ``ExportTraceServiceRequest`` into
  :class:`ReceivedSpan` objects and record every export attempt as an :class:`ExportRequest`.
* Metrics arrive the same ways (gRPC ``MetricsService``, ``POST /v1/metrics``): decoded into
  :class:`MetricPoint` objects (:attr:`OtlpReceiver.metric_points`), their attempts recorded in
  :attr:`OtlpReceiver.metric_requests`, apart from the trace attempts in ``requests``.
* ``mode = "unavailable"`` makes both sides refuse exports (gRPC ``UNAVAILABLE``, HTTP 503), and can
  be switched while the receiver runs.
* ``mode = "garbage"``, ``"slow_drip"`` or ``"close"`` make the HTTP side misbehave at the socket
  level: random bytes instead of an HTTP answer, a valid answer one byte per
  :attr:`OtlpReceiver.drip_interval` seconds, or a reset connection before the body is read
  (closing mid-request). The gRPC side answers normally in these modes.
* :func:`shutdown_in_thread` runs ``provider.shutdown()`` in a daemon thread with a bounded join:
  what generated code should do at exit, and how tests measure it.

The failure-mode endpoints (refused, hanging, unresolvable, garbage, slow drip) live in
:mod:`tests.observability.lineage_receiver`; their ``http://127.0.0.1:PORT`` URLs work for the gRPC
exporter too.

Everything listens on 127.0.0.1 only, every wait is bounded, every thread is a daemon thread (the
gRPC handler pool is shut down on stop), so a stuck test never keeps the interpreter alive.
"""

from __future__ import annotations

import gzip
import random
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from types import TracebackType
from typing import Any, Literal, NamedTuple, Protocol

import grpc  # type: ignore[import-untyped]  # grpcio ships no type information
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2_grpc import (
    MetricsServiceServicer,
    add_MetricsServiceServicer_to_server,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import (
    TraceServiceServicer,
    add_TraceServiceServicer_to_server,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

__all__ = [
    "GARBAGE_RESPONSE",
    "GRPC_EXPORT_METHOD",
    "GRPC_METRICS_METHOD",
    "METRICS_PATH",
    "SLOW_DRIP_OTLP_RESPONSE",
    "TRACES_PATH",
    "ExportRequest",
    "MetricPoint",
    "OtlpProtocol",
    "OtlpReceiver",
    "OtlpReceiverMode",
    "ReceivedSpan",
    "ShutdownTiming",
    "SpanEvent",
    "decode_any_value",
    "decode_attributes",
    "decode_export_request",
    "decode_metrics_request",
    "shutdown_in_thread",
]

#: Where OTLP/HTTP exporters post traces (the exporter's ``endpoint=`` must include it).
TRACES_PATH = "/v1/traces"
#: The full gRPC method name OTLP/gRPC exporters call.
GRPC_EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
#: Where OTLP/HTTP exporters post metrics, and the gRPC method of the metrics service.
METRICS_PATH = "/v1/metrics"
GRPC_METRICS_METHOD = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
_METRIC_PATHS = frozenset({METRICS_PATH, GRPC_METRICS_METHOD})
LOCALHOST = "127.0.0.1"
PROTOBUF_CONTENT_TYPE = "application/x-protobuf"
_POLL = 0.05

OtlpReceiverMode = Literal["ok", "unavailable", "garbage", "slow_drip", "close"]
OtlpProtocol = Literal["grpc", "http"]
_MODES: tuple[OtlpReceiverMode, ...] = ("ok", "unavailable", "garbage", "slow_drip", "close")
#: The HTTP modes that misbehave below HTTP (see :meth:`OtlpReceiver._misbehave`).
_SOCKET_MODES = frozenset({"garbage", "slow_drip", "close"})
#: What ``mode="slow_drip"`` sends, one byte at a time: a complete, valid OTLP/HTTP answer.
SLOW_DRIP_OTLP_RESPONSE = (
    b"HTTP/1.0 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n"
)
#: What ``mode="garbage"`` sends instead of an HTTP answer (never starts with ``HTTP/``).
GARBAGE_RESPONSE = b"\x00" + random.Random(0).randbytes(511)

# --------------------------------------------------------------------------------------------------
# Decoded data
# --------------------------------------------------------------------------------------------------


class SpanEvent(NamedTuple):
    """A span event: compares equal to a plain ``(name, attributes)`` tuple."""

    name: str
    attributes: dict[str, Any]


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as the receiver decoded it.

    Ids are lowercase hex (``trace_id`` 32 chars, ``span_id`` 16), ``parent_span_id`` is ``None``
    for a root span. ``kind`` is the OTLP name without prefix (``"INTERNAL"``, ``"SERVER"``,
    ``"CLIENT"``, ``"PRODUCER"``, ``"CONSUMER"``, ``"UNSPECIFIED"``); ``status_code`` is
    ``"UNSET"``, ``"OK"`` or ``"ERROR"``. Attribute values are ``str``, ``bool``, ``int``,
    ``float`` or ``bytes``; arrays become tuples (as in the SDK's own ``span.attributes``),
    key-value lists dicts.
    ``received_at`` is ``time.time()`` on arrival.
    """

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    kind: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    status_code: str
    status_message: str
    events: list[SpanEvent]
    start_ns: int
    end_ns: int
    scope_name: str
    protocol: OtlpProtocol
    received_at: float
    scope_version: str = ""

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns

    @property
    def is_root(self) -> bool:
        return self.parent_span_id is None

    def events_named(self, name: str) -> list[SpanEvent]:
        """The events called ``name`` (e.g. ``"exception"`` from ``record_exception``)."""
        return [event for event in self.events if event.name == name]


@dataclass(frozen=True)
class ExportRequest:
    """One export attempt the receiver answered (accepted or not).

    ``status`` is the HTTP status as text (``"200"``, ``"503"``, ``"404"``) or the gRPC code name
    (``"OK"``, ``"UNAVAILABLE"``). ``headers`` are the HTTP headers / gRPC metadata, with keys
    lowercased.
    ``span_count`` is how many spans the request carried (0 if it could not be decoded).
    """

    protocol: OtlpProtocol
    path: str
    status: str
    span_count: int
    headers: dict[str, str] = field(default_factory=dict)
    content_encoding: str | None = None
    received_at: float = 0.0

    @property
    def accepted(self) -> bool:
        return self.status in {"200", "OK"}


def decode_any_value(value: AnyValue) -> Any:
    """An OTLP ``AnyValue`` as a Python value (arrays as tuples, key-value lists as dicts)."""
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return tuple(decode_any_value(item) for item in value.array_value.values)
    if which == "kvlist_value":
        return decode_attributes(value.kvlist_value.values)
    return getattr(value, which)


def decode_attributes(attributes: Iterable[KeyValue]) -> dict[str, Any]:
    """OTLP ``KeyValue`` pairs as a dict (a repeated key keeps its last value)."""
    return {item.key: decode_any_value(item.value) for item in attributes}


def _enum_name(name: str, prefix: str) -> str:
    return name[len(prefix) :] if name.startswith(prefix) else name


def decode_export_request(
    request: ExportTraceServiceRequest, protocol: OtlpProtocol, received_at: float | None = None
) -> list[ReceivedSpan]:
    """Every span of ``request``, with its resource and instrumentation scope."""
    at = time.time() if received_at is None else received_at
    spans: list[ReceivedSpan] = []
    for resource_spans in request.resource_spans:
        resource = decode_attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope
            spans.extend(
                ReceivedSpan(
                    name=span.name,
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    parent_span_id=span.parent_span_id.hex() or None,
                    kind=_enum_name(Span.SpanKind.Name(span.kind), "SPAN_KIND_"),
                    attributes=decode_attributes(span.attributes),
                    resource=dict(resource),
                    status_code=_enum_name(
                        Status.StatusCode.Name(span.status.code), "STATUS_CODE_"
                    ),
                    status_message=span.status.message,
                    events=[
                        SpanEvent(event.name, decode_attributes(event.attributes))
                        for event in span.events
                    ],
                    start_ns=span.start_time_unix_nano,
                    end_ns=span.end_time_unix_nano,
                    scope_name=scope.name,
                    protocol=protocol,
                    received_at=at,
                    scope_version=scope.version,
                )
                for span in scope_spans.spans
            )
    return spans


@dataclass(frozen=True)
class MetricPoint:
    """One data point of a metric as the receiver decoded it.

    ``kind`` is ``"sum"``, ``"gauge"`` or ``"histogram"``. For a sum or gauge ``value`` is the
    point's value (int or float); for a histogram ``value`` is its ``sum``, ``count`` its count and
    ``bucket_counts``/``bounds`` its buckets. ``temporality`` is ``"DELTA"``, ``"CUMULATIVE"`` or
    ``""`` (gauges).
    """

    name: str
    unit: str
    description: str
    kind: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    value: float
    temporality: str
    protocol: OtlpProtocol
    scope_name: str
    count: int = 0
    bucket_counts: tuple[int, ...] = ()
    bounds: tuple[float, ...] = ()
    monotonic: bool = False
    start_ns: int = 0
    time_ns: int = 0


def _temporality_name(value: int) -> str:
    return _enum_name(AggregationTemporality.Name(value), "AGGREGATION_TEMPORALITY_")


def decode_metrics_request(
    request: ExportMetricsServiceRequest, protocol: OtlpProtocol
) -> list[MetricPoint]:
    """Every data point of ``request`` (sums, gauges, histograms), with resource and scope."""
    points: list[MetricPoint] = []
    for resource_metrics in request.resource_metrics:
        resource = decode_attributes(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                common = {
                    "name": metric.name,
                    "unit": metric.unit,
                    "description": metric.description,
                    "resource": dict(resource),
                    "protocol": protocol,
                    "scope_name": scope_metrics.scope.name,
                }
                if kind in {"sum", "gauge"}:
                    body = getattr(metric, kind)
                    temporality = (
                        _temporality_name(body.aggregation_temporality) if kind == "sum" else ""
                    )
                    points.extend(
                        MetricPoint(
                            kind=kind,
                            attributes=decode_attributes(point.attributes),
                            value=getattr(point, point.WhichOneof("value") or "as_int"),
                            temporality=temporality,
                            monotonic=kind == "sum" and metric.sum.is_monotonic,
                            start_ns=point.start_time_unix_nano,
                            time_ns=point.time_unix_nano,
                            **common,
                        )
                        for point in body.data_points
                    )
                elif kind == "histogram":
                    temporality = _temporality_name(metric.histogram.aggregation_temporality)
                    points.extend(
                        MetricPoint(
                            kind=kind,
                            attributes=decode_attributes(point.attributes),
                            value=point.sum,
                            temporality=temporality,
                            count=point.count,
                            bucket_counts=tuple(point.bucket_counts),
                            bounds=tuple(point.explicit_bounds),
                            start_ns=point.start_time_unix_nano,
                            time_ns=point.time_unix_nano,
                            **common,
                        )
                        for point in metric.histogram.data_points
                    )
    return points


def _point_count(request: ExportMetricsServiceRequest) -> int:
    return sum(
        len(getattr(metric, metric.WhichOneof("data") or "sum").data_points)
        for resource_metrics in request.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
    )


# --------------------------------------------------------------------------------------------------
# gRPC side
# --------------------------------------------------------------------------------------------------


class _MetricsService(MetricsServiceServicer):
    def __init__(self, receiver: OtlpReceiver) -> None:
        self._receiver = receiver

    def Export(  # noqa: N802 - the generated servicer's method name
        self, request: ExportMetricsServiceRequest, context: Any
    ) -> ExportMetricsServiceResponse:
        received_at = time.time()
        metadata = context.invocation_metadata() or ()
        headers = {str(key).lower(): str(value) for key, value in metadata}
        count = _point_count(request)
        if self._receiver.mode == "unavailable":
            self._receiver._record(
                ExportRequest(
                    "grpc", GRPC_METRICS_METHOD, "UNAVAILABLE", count, headers, None, received_at
                ),
                [],
            )
            context.abort(grpc.StatusCode.UNAVAILABLE, "OtlpReceiver is in mode 'unavailable'")
        points = decode_metrics_request(request, "grpc")
        self._receiver._record(
            ExportRequest("grpc", GRPC_METRICS_METHOD, "OK", count, headers, None, received_at),
            [],
            points,
        )
        return ExportMetricsServiceResponse()


class _TraceService(TraceServiceServicer):
    def __init__(self, receiver: OtlpReceiver) -> None:
        self._receiver = receiver

    def Export(  # noqa: N802 - the generated servicer's method name
        self, request: ExportTraceServiceRequest, context: Any
    ) -> ExportTraceServiceResponse:
        received_at = time.time()
        metadata = context.invocation_metadata() or ()
        headers = {str(key).lower(): str(value) for key, value in metadata}
        count = sum(
            len(scope_spans.spans)
            for resource_spans in request.resource_spans
            for scope_spans in resource_spans.scope_spans
        )
        if self._receiver.mode == "unavailable":
            self._receiver._record(
                ExportRequest(
                    "grpc", GRPC_EXPORT_METHOD, "UNAVAILABLE", count, headers, None, received_at
                ),
                [],
            )
            context.abort(grpc.StatusCode.UNAVAILABLE, "OtlpReceiver is in mode 'unavailable'")
        spans = decode_export_request(request, "grpc", received_at)
        self._receiver._record(
            ExportRequest("grpc", GRPC_EXPORT_METHOD, "OK", count, headers, None, received_at),
            spans,
        )
        return ExportTraceServiceResponse()


# --------------------------------------------------------------------------------------------------
# HTTP side
# --------------------------------------------------------------------------------------------------


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, receiver: OtlpReceiver) -> None:
        self.receiver = receiver
        super().__init__((LOCALHOST, 0), _HttpHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that can hang offline.
        TCPServer.server_bind(self)
        self.server_name = LOCALHOST
        self.server_port = self.server_address[1]


class _HttpHandler(BaseHTTPRequestHandler):
    server: _HttpServer
    timeout = 10  # seconds a client may take to send its request
    # HTTP/1.0: one request per connection, so no idle keep-alive thread outlives a test.
    protocol_version = "HTTP/1.0"

    def do_POST(self) -> None:
        self.server.receiver._handle_http(self)

    def do_GET(self) -> None:
        self.server.receiver._handle_http(self)

    def do_PUT(self) -> None:
        self.server.receiver._handle_http(self)

    def do_DELETE(self) -> None:
        self.server.receiver._handle_http(self)

    def do_PATCH(self) -> None:
        self.server.receiver._handle_http(self)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: pytest shows stderr of failed tests, and access logs are noise there."""


def _respond(handler: _HttpHandler, status: int, body: bytes, content_type: str) -> None:
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if body:
            handler.wfile.write(body)
    except OSError:
        pass  # the client gave up (timed out) before the answer; nothing to tell it


def _decode_body(data: bytes, encoding: str | None) -> bytes:
    """The body with its ``Content-Encoding`` (gzip, deflate, identity) undone; else ValueError."""
    name = (encoding or "identity").strip().lower()
    if name in {"", "identity"}:
        return data
    if name in {"gzip", "x-gzip"}:
        return gzip.decompress(data)
    if name == "deflate":
        return zlib.decompress(data)
    msg = f"unsupported Content-Encoding {encoding!r}"
    raise ValueError(msg)


# --------------------------------------------------------------------------------------------------
# Receiver
# --------------------------------------------------------------------------------------------------


class OtlpReceiver:
    """An OTLP trace receiver on ``127.0.0.1``: gRPC and HTTP/protobuf, free ports, for one test.

    Point exporters at it::

        grpc_exporter.OTLPSpanExporter(endpoint=receiver.grpc_endpoint, insecure=True)
        http_exporter.OTLPSpanExporter(endpoint=receiver.http_traces_url)
        # or, for code configured from the environment:
        monkeypatch.setenv(...) for each item of receiver.env("grpc" | "http")

    In ``mode="ok"`` every decodable export is answered OK and its spans are recorded in
    :attr:`spans`; in ``mode="unavailable"`` gRPC answers ``UNAVAILABLE`` and HTTP 503 (no span is
    recorded). Every attempt is recorded in :attr:`requests`. HTTP answers 404 for a path other than
    ``/v1/traces``, 405 for a method other than POST, 415 for a content type other than
    ``application/x-protobuf``, 400 for an undecodable body. Use it as a context manager, or call
    :meth:`start` / :meth:`stop`.
    """

    def __init__(
        self, *, mode: OtlpReceiverMode = "ok", max_body_bytes: int = 16 * 1024 * 1024
    ) -> None:
        self._check_mode(mode)
        self._mode: OtlpReceiverMode = mode
        self.max_body_bytes = max_body_bytes
        self._changed = threading.Condition()
        self._spans: list[ReceivedSpan] = []
        self._requests: list[ExportRequest] = []
        self._points: list[MetricPoint] = []
        self._metric_requests: list[ExportRequest] = []
        self._http: _HttpServer | None = None
        self._http_thread: threading.Thread | None = None
        self._grpc: Any = None
        self._grpc_pool: ThreadPoolExecutor | None = None
        self._grpc_port: int | None = None
        #: Seconds between two bytes in ``mode="slow_drip"``.
        self.drip_interval = 1.0
        self._stopping = threading.Event()

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> OtlpReceiver:
        """Bind free ports on 127.0.0.1 and serve gRPC and HTTP in the background."""
        if self._http is not None or self._grpc is not None:
            raise RuntimeError("the receiver is already running")
        self._stopping.clear()
        try:
            self._start_grpc()
            self._start_http()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_grpc(self) -> None:
        pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="otlp-receiver-grpc")
        self._grpc_pool = pool
        # so_reuseport=0: never share a port with another listener (the gRPC default allows it).
        server = grpc.server(pool, options=[("grpc.so_reuseport", 0)])
        self._grpc = server
        add_TraceServiceServicer_to_server(_TraceService(self), server)  # type: ignore[no-untyped-call]
        add_MetricsServiceServicer_to_server(_MetricsService(self), server)  # type: ignore[no-untyped-call]
        port = int(server.add_insecure_port(f"{LOCALHOST}:0"))
        if port == 0:  # pragma: no cover - older grpcio reports a failed bind this way
            raise RuntimeError("gRPC could not bind a port on 127.0.0.1")
        server.start()
        self._grpc_port = port

    def _start_http(self) -> None:
        server = _HttpServer(self)
        self._http = server
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": _POLL},
            name=f"otlp-receiver-http-{server.server_port}",
            daemon=True,
        )
        thread.start()
        self._http_thread = thread

    def stop(self) -> None:
        """Stop both servers and release their ports (idempotent; bounded to about 4 s)."""
        self._stopping.set()  # ends a slow drip in progress
        http_server, http_thread = self._http, self._http_thread
        grpc_server, pool = self._grpc, self._grpc_pool
        self._http = self._http_thread = None
        self._grpc = self._grpc_pool = self._grpc_port = None
        if http_server is not None:
            if http_thread is not None:
                http_server.shutdown()
                http_thread.join(timeout=2.0)
            http_server.server_close()
        if grpc_server is not None:
            grpc_server.stop(grace=0).wait(timeout=2.0)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def is_running(self) -> bool:
        """Whether both servers are up (a method, so type checkers do not narrow it)."""
        return self._http is not None and self._grpc is not None

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses --------------------------------------------------------------------------------

    @property
    def grpc_port(self) -> int:
        if self._grpc_port is None:
            raise RuntimeError("the receiver is not running")
        return self._grpc_port

    @property
    def http_port(self) -> int:
        if self._http is None:
            raise RuntimeError("the receiver is not running")
        return int(self._http.server_port)

    @property
    def grpc_endpoint(self) -> str:
        """``http://127.0.0.1:PORT``: for the gRPC exporter (``http`` implies ``insecure``)."""
        return f"http://{LOCALHOST}:{self.grpc_port}"

    @property
    def http_endpoint(self) -> str:
        """``http://127.0.0.1:PORT``: the base URL (``OTEL_EXPORTER_OTLP_ENDPOINT`` for HTTP)."""
        return f"http://{LOCALHOST}:{self.http_port}"

    @property
    def http_traces_url(self) -> str:
        """``http://127.0.0.1:PORT/v1/traces``: what the HTTP exporter's ``endpoint=`` takes."""
        return self.http_endpoint + TRACES_PATH

    def env(self, protocol: OtlpProtocol) -> dict[str, str]:
        """``OTEL_EXPORTER_OTLP_ENDPOINT`` + ``..._PROTOCOL`` pointing env-configured code here.

        For ``"http"`` the endpoint is the base URL: the HTTP exporter appends ``/v1/traces`` to
        ``OTEL_EXPORTER_OTLP_ENDPOINT`` (but not to ``..._TRACES_ENDPOINT`` or ``endpoint=``).
        """
        if protocol == "grpc":
            return {
                "OTEL_EXPORTER_OTLP_ENDPOINT": self.grpc_endpoint,
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            }
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.http_endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        }

    # -- mode -------------------------------------------------------------------------------------

    @property
    def mode(self) -> OtlpReceiverMode:
        return self._mode

    @mode.setter
    def mode(self, mode: OtlpReceiverMode) -> None:
        self._check_mode(mode)
        self._mode = mode

    @staticmethod
    def _check_mode(mode: str) -> None:
        if mode not in _MODES:
            msg = f"unknown mode {mode!r}; expected one of {', '.join(_MODES)}"
            raise ValueError(msg)

    # -- what arrived -----------------------------------------------------------------------------

    @property
    def spans(self) -> list[ReceivedSpan]:
        """A snapshot of every span accepted so far, in arrival order."""
        with self._changed:
            return list(self._spans)

    @property
    def requests(self) -> list[ExportRequest]:
        """A snapshot of every export attempt answered so far (accepted or not), but metrics'."""
        with self._changed:
            return list(self._requests)

    @property
    def metric_requests(self) -> list[ExportRequest]:
        """A snapshot of every metrics export attempt (gRPC or ``/v1/metrics``) so far."""
        with self._changed:
            return list(self._metric_requests)

    @property
    def metric_points(self) -> list[MetricPoint]:
        """A snapshot of every metric data point accepted so far, in arrival order."""
        with self._changed:
            return list(self._points)

    def points_named(self, name: str) -> list[MetricPoint]:
        """The data points of the metric called ``name``."""
        return [point for point in self.metric_points if point.name == name]

    def wait_for_metrics(self, count: int = 1, timeout: float = 5.0) -> list[ExportRequest]:
        """Wait until ``count`` metrics exports were accepted; return every metrics attempt."""
        self._wait(
            lambda: sum(r.accepted for r in self._metric_requests) >= count,
            timeout,
            f"at least {count} accepted metrics export(s)",
        )
        return self.metric_requests

    def spans_named(self, name: str) -> list[ReceivedSpan]:
        return [span for span in self.spans if span.name == name]

    def span(self, name: str) -> ReceivedSpan:
        """The one span called ``name``; LookupError if there is none or more than one."""
        found = self.spans_named(name)
        if len(found) != 1:
            msg = f"expected exactly one span named {name!r}, found {len(found)}; {self._summary()}"
            raise LookupError(msg)
        return found[0]

    def children_of(self, parent: ReceivedSpan) -> list[ReceivedSpan]:
        """The direct children of ``parent`` (same trace, parent id = ``parent.span_id``)."""
        return [
            span
            for span in self.spans
            if span.trace_id == parent.trace_id and span.parent_span_id == parent.span_id
        ]

    def clear(self) -> None:
        """Forget every span and request received so far."""
        with self._changed:
            self._spans.clear()
            self._requests.clear()
            self._points.clear()
            self._metric_requests.clear()

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[ReceivedSpan]:
        """Wait until at least ``count`` spans arrived; return them all. TimeoutError otherwise."""
        self._wait(lambda: len(self._spans) >= count, timeout, f"at least {count} span(s)")
        return self.spans

    def wait_for_span(self, name: str, timeout: float = 5.0) -> ReceivedSpan:
        """Wait until a span called ``name`` arrived; return the first. TimeoutError otherwise."""
        self._wait(
            lambda: any(span.name == name for span in self._spans),
            timeout,
            f"a span named {name!r}",
        )
        return self.spans_named(name)[0]

    def wait_for_requests(self, count: int = 1, timeout: float = 5.0) -> list[ExportRequest]:
        """Wait until at least ``count`` export attempts were answered (any status); return them."""
        self._wait(
            lambda: len(self._requests) >= count, timeout, f"at least {count} export request(s)"
        )
        return self.requests

    def _wait(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not ready():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    msg = f"OtlpReceiver: waited {timeout:g} s for {what}; {self._summary()}"
                    raise TimeoutError(msg)
                self._changed.wait(min(remaining, _POLL * 2))

    def _summary(self) -> str:
        with self._changed:
            names = [span.name for span in self._spans]
            attempts = [f"{r.protocol} {r.path} -> {r.status}" for r in self._requests]
        shown = ", ".join(repr(name) for name in names[:20]) + (" ..." if len(names) > 20 else "")
        return (
            f"received {len(names)} span(s) [{shown}] in {len(attempts)} request(s) "
            f"{attempts[:10]}{' ...' if len(attempts) > 10 else ''} (mode {self._mode!r})"
        )

    # -- serving ----------------------------------------------------------------------------------

    def _record(
        self,
        request: ExportRequest,
        spans: list[ReceivedSpan],
        points: Iterable[MetricPoint] = (),
    ) -> None:
        with self._changed:
            if request.path in _METRIC_PATHS:
                self._metric_requests.append(request)
            else:
                self._requests.append(request)
            self._spans.extend(spans)
            self._points.extend(points)
            self._changed.notify_all()

    def _handle_http(self, handler: _HttpHandler) -> None:
        received_at = time.time()
        headers = {key.lower(): value for key, value in handler.headers.items()}
        encoding = headers.get("content-encoding")
        path = handler.path.split("?", 1)[0]
        if self._mode in _SOCKET_MODES:
            self._misbehave(handler, path, headers, encoding, received_at)
            return
        points: list[MetricPoint] = []
        if path == METRICS_PATH:
            status, body, count, points = self._answer_metrics(handler, headers, encoding)
            spans: list[ReceivedSpan] = []
        else:
            status, body, count, spans = self._answer_http(handler, path, headers, encoding)
        self._record(
            ExportRequest("http", path, str(status), count, headers, encoding, received_at),
            spans,
            points,
        )
        content_type = PROTOBUF_CONTENT_TYPE if status == 200 else "text/plain; charset=utf-8"
        _respond(handler, status, body, content_type)

    def _misbehave(
        self,
        handler: _HttpHandler,
        path: str,
        headers: Mapping[str, str],
        encoding: str | None,
        received_at: float,
    ) -> None:
        """Answer below HTTP, per :attr:`mode`; the attempt is recorded with the mode as status.

        ``close``: reset the connection without reading the body (the client is mid-request).
        ``garbage``: read the request, send :data:`GARBAGE_RESPONSE`, close.
        ``slow_drip``: read the request, send :data:`SLOW_DRIP_OTLP_RESPONSE` one byte per
        :attr:`drip_interval` seconds (stopped by :meth:`stop`).
        """
        mode = self._mode
        handler.close_connection = True
        if mode == "close":
            self._record(
                ExportRequest("http", path, mode, 0, dict(headers), encoding, received_at), []
            )
            # SO_LINGER 0: closing with unread input sends RST at once, as a crashed server would.
            handler.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            return
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) <= self.max_body_bytes:
            handler.rfile.read(int(length))
        self._record(ExportRequest("http", path, mode, 0, dict(headers), encoding, received_at), [])
        try:
            if mode == "garbage":
                handler.wfile.write(GARBAGE_RESPONSE)
                return
            for index in range(len(SLOW_DRIP_OTLP_RESPONSE)):
                if index and self._stopping.wait(self.drip_interval):
                    return
                handler.wfile.write(SLOW_DRIP_OTLP_RESPONSE[index : index + 1])
        except OSError:
            pass  # the client gave up: what a misbehaving endpoint is for

    def _answer_metrics(
        self, handler: _HttpHandler, headers: Mapping[str, str], encoding: str | None
    ) -> tuple[int, bytes, int, list[MetricPoint]]:
        """(status, response body, point count, points to record) for ``POST /v1/metrics``."""
        length_header = headers.get("content-length", "")
        if not length_header.isdigit() or int(length_header) > self.max_body_bytes:
            return 400, b"a Content-Length within max_body_bytes is required", 0, []
        data = handler.rfile.read(int(length_header))
        if handler.command != "POST":
            return 405, b"POST only", 0, []
        content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type != PROTOBUF_CONTENT_TYPE:
            return 415, f"expected {PROTOBUF_CONTENT_TYPE}, got {content_type!r}".encode(), 0, []
        try:
            request = ExportMetricsServiceRequest.FromString(_decode_body(data, encoding))
        except (ValueError, OSError, EOFError, zlib.error, DecodeError) as error:
            return 400, f"undecodable body: {error}".encode(), 0, []
        count = _point_count(request)
        if self._mode == "unavailable":
            return 503, b"OtlpReceiver is in mode 'unavailable'", count, []
        points = decode_metrics_request(request, "http")
        return 200, ExportMetricsServiceResponse().SerializeToString(), count, points

    def _answer_http(
        self, handler: _HttpHandler, path: str, headers: Mapping[str, str], encoding: str | None
    ) -> tuple[int, bytes, int, list[ReceivedSpan]]:
        """(status, response body, span count, spans to record) for one HTTP request."""
        # Read the body first: closing a socket with unread input sends RST instead of our answer.
        length_header = headers.get("content-length")
        data = b""
        if length_header is not None:
            try:
                length = int(length_header)
            except ValueError:
                return 400, b"bad Content-Length", 0, []
            if length > self.max_body_bytes:
                return 413, b"body too large", 0, []
            data = handler.rfile.read(length)
        if path != TRACES_PATH:
            return 404, f"no such path {path!r}; OTLP traces go to {TRACES_PATH}".encode(), 0, []
        if handler.command != "POST":
            return 405, b"POST only", 0, []
        if length_header is None:
            return 411, b"Content-Length required", 0, []
        content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type != PROTOBUF_CONTENT_TYPE:
            return 415, f"expected {PROTOBUF_CONTENT_TYPE}, got {content_type!r}".encode(), 0, []
        try:
            request = ExportTraceServiceRequest.FromString(_decode_body(data, encoding))
        except (ValueError, OSError, EOFError, zlib.error, DecodeError) as error:
            return 400, f"undecodable body: {error}".encode(), 0, []
        spans = decode_export_request(request, "http")
        if self._mode == "unavailable":
            return 503, b"OtlpReceiver is in mode 'unavailable'", len(spans), []
        return 200, ExportTraceServiceResponse().SerializeToString(), len(spans), spans


# --------------------------------------------------------------------------------------------------
# Bounded shutdown
# --------------------------------------------------------------------------------------------------


class _Shutdownable(Protocol):
    def shutdown(self) -> None: ...


class ShutdownTiming(NamedTuple):
    """How :func:`shutdown_in_thread` went: whether ``shutdown()`` returned, and after how long."""

    finished: bool
    seconds: float  # until shutdown() returned, or until the join gave up
    error: BaseException | None


def shutdown_in_thread(provider: _Shutdownable, join_timeout: float = 5.0) -> ShutdownTiming:
    """Call ``provider.shutdown()`` in a daemon thread and join it for at most ``join_timeout`` s.

    The pattern generated code should use at exit (a dead collector must not hold the process);
    tests use it to measure how long the shutdown really takes without risking a hang.
    """
    errors: list[BaseException] = []
    done = threading.Event()
    ended: list[float] = []

    def run() -> None:
        try:
            provider.shutdown()
        except BaseException as error:  # noqa: BLE001 - reported to the caller, not swallowed
            errors.append(error)
        finally:
            ended.append(time.perf_counter())
            done.set()

    thread = threading.Thread(target=run, name="bounded-provider-shutdown", daemon=True)
    started = time.perf_counter()
    thread.start()
    thread.join(timeout=join_timeout)
    finished = done.is_set()
    seconds = (ended[0] if finished else time.perf_counter()) - started
    return ShutdownTiming(finished, seconds, errors[0] if errors else None)
