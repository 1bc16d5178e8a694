"""A private TracerProvider per target, exporting in the background, with a bounded shutdown.

The SDK's own exit handler can hold a process 7-10 s when the collector is down (longer when a
timeout is given in milliseconds by mistake). Here ``shutdown_on_exit`` is off and an exit hook
runs the shutdown in daemon threads, waiting at most :data:`SHUTDOWN_SECONDS`, and not at all
for an export already stuck past its timeout. Exports are never retried with backoff (the gRPC
exporter gets no retryable code, the HTTP one a :class:`SingleAttemptSession`), and the first
failure opens a per-process breaker (:class:`GuardedExporter`): a down collector costs a process
one export on the batch processor's thread, and at most one bounded wait at exit.

gRPC cannot use credentials in an endpoint URL (``http://user:token@collector:4317``): it would
take them for part of the host name and print them in every export error. They are dropped, with
a warning that does not repeat them; credentials go in ``OTEL_EXPORTER_OTLP_HEADERS``.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from urllib.parse import urlsplit, urlunsplit

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from floe_scaffold.tracing._config import TracingTarget
from floe_scaffold.tracing._guard import GuardedExporter

__all__ = ["SHUTDOWN_SECONDS", "guards", "provider_for", "shutdown_all"]

SHUTDOWN_SECONDS = 1.5
#: Environment variables naming a credential-provider session for the HTTP exporter: with one
#: set, that session is used as it is (and the exporter's own retries with it).
_SESSION_PROVIDERS = (
    "OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER",
    "OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER",
)
_POLL = 0.02
_providers: dict[tuple[object, ...], tuple[TracerProvider, GuardedExporter | None]] = {}
_lock = threading.Lock()
logger = logging.getLogger("floe_scaffold.tracing")


def _without_userinfo(endpoint: str) -> tuple[str, bool]:
    parts = urlsplit(endpoint)
    if "@" not in parts.netloc:
        return endpoint, False
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment)), True


def _exporter(target: TracingTarget) -> SpanExporter:
    assert target.endpoint is not None  # noqa: S101 - only called when exporting
    if target.protocol == "grpc":
        from grpc import StatusCode  # type: ignore[import-untyped]
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        endpoint, had_credentials = _without_userinfo(target.endpoint)
        if had_credentials:
            logger.warning(
                "the OTLP gRPC endpoint %s carries credentials in its URL, which gRPC cannot "
                "use; they were dropped (send them with OTEL_EXPORTER_OTLP_HEADERS)",
                endpoint,
            )
        return OTLPSpanExporter(
            endpoint=endpoint,
            insecure=urlsplit(endpoint).scheme != "https",
            timeout=target.timeout,
            # No code is retried: OK never fails (an empty set would mean the default set).
            retryable_error_codes=frozenset({StatusCode.OK}),
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpSpanExporter,
    )

    from floe_scaffold.tracing._session import SingleAttemptSession

    parts = urlsplit(target.endpoint)
    path = parts.path.rstrip("/")
    if not path.endswith("/v1/traces"):
        path = f"{path}/v1/traces"
    url = urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))
    own_session = not any(os.environ.get(name) for name in _SESSION_PROVIDERS)
    return HttpSpanExporter(
        endpoint=url,
        timeout=target.timeout,
        session=SingleAttemptSession() if own_session else None,
    )


def provider_for(target: TracingTarget) -> TracerProvider:
    """The process's provider for ``target``: spans always, an exporter only with an endpoint."""
    key = (target.endpoint, target.protocol, target.timeout, tuple(sorted(target.resource.items())))
    with _lock:
        known = _providers.get(key)
        if known is None:
            provider = TracerProvider(
                resource=Resource.create(target.resource), shutdown_on_exit=False
            )
            guard = None
            if target.exports:
                assert target.endpoint is not None  # noqa: S101 - implied by `exports`
                label = _without_userinfo(target.endpoint)[0]
                guard = GuardedExporter(_exporter(target), label, target.timeout)
                provider.add_span_processor(BatchSpanProcessor(guard))
            known = _providers[key] = (provider, guard)
        return known[0]


def guards() -> list[GuardedExporter]:
    """The exporters of this process's providers (to see their breakers and attempts)."""
    with _lock:
        return [guard for _, guard in _providers.values() if guard is not None]


def shutdown_all(timeout: float = SHUTDOWN_SECONDS) -> None:
    """Shut every provider down in daemon threads, waiting at most ``timeout`` seconds.

    The wait ends early when every shutdown still running is held by an export stuck past its
    own timeout: waiting for it would only hold the process. An export abandoned either way
    opens its breaker, with its one warning.
    """
    with _lock:
        known = list(_providers.values())
        _providers.clear()
    running: list[tuple[threading.Thread, GuardedExporter | None]] = []
    for provider, guard in known:
        worker = threading.Thread(target=provider.shutdown, daemon=True, name="floe-otel-stop")
        worker.start()
        running.append((worker, guard))
    deadline = time.monotonic() + timeout
    while running and time.monotonic() < deadline:
        if all(guard is not None and guard.stuck for _, guard in running):
            break
        running[0][0].join(min(_POLL, max(0.0, deadline - time.monotonic())))
        running = [(worker, guard) for worker, guard in running if worker.is_alive()]
    for _, guard in running:
        if guard is not None and guard.busy_for is not None:
            guard.abandon()


atexit.register(shutdown_all)
