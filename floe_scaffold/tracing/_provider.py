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

Metrics (``_meter``) export once per dbt step on a daemon thread, registered here with
:func:`track_export`: the same exit hook waits for them within the same bound, so metrics and
spans together cost a process at most one bounded wait.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from floe_scaffold.tracing._config import TracingTarget
from floe_scaffold.tracing._guard import GuardedExporter

__all__ = ["SHUTDOWN_SECONDS", "guards", "provider_for", "shutdown_all", "track_export"]

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


class Watched(Protocol):
    """What the exit hook needs to know of an export in progress."""

    @property
    def stuck(self) -> bool:
        """Whether the export has outlived its own timeout."""

    @property
    def busy_for(self) -> float | None:
        """Seconds the export in progress has taken, or None."""

    def abandon(self) -> None:
        """Give up on the export in progress (opens its breaker, with its one warning)."""


_exports: list[tuple[threading.Thread, Watched]] = []


def track_export(worker: threading.Thread, guard: Watched) -> None:
    """Have the exit hook wait (bounded) for ``worker``, an export started elsewhere."""
    with _lock:
        _exports[:] = [(thread, known) for thread, known in _exports if thread.is_alive()]
        _exports.append((worker, guard))


def _without_userinfo(endpoint: str) -> tuple[str, bool]:
    parts = urlsplit(endpoint)
    if "@" not in parts.netloc:
        return endpoint, False
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment)), True


def grpc_endpoint(endpoint: str) -> str:
    """``endpoint`` without credentials in its URL (warned about: gRPC cannot use them)."""
    plain, had_credentials = _without_userinfo(endpoint)
    if had_credentials:
        logger.warning(
            "the OTLP gRPC endpoint %s carries credentials in its URL, which gRPC cannot "
            "use; they were dropped (send them with OTEL_EXPORTER_OTLP_HEADERS)",
            plain,
        )
    return plain


def http_url(endpoint: str, signal_path: str) -> str:
    """``endpoint`` with ``signal_path`` (``/v1/traces``, ``/v1/metrics``) unless it ends so."""
    parts = urlsplit(endpoint)
    path = parts.path.rstrip("/")
    if not path.endswith(signal_path):
        path = f"{path}{signal_path}"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def own_session(*providers: str) -> bool:
    """Whether the HTTP exporter gets floe's single-attempt session (no provider variable set)."""
    return not any(os.environ.get(name) for name in (*_SESSION_PROVIDERS, *providers))


def _exporter(target: TracingTarget) -> SpanExporter:
    assert target.endpoint is not None  # noqa: S101 - only called when exporting
    if target.protocol == "grpc":
        from grpc import StatusCode  # type: ignore[import-untyped]
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        endpoint = grpc_endpoint(target.endpoint)
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

    return HttpSpanExporter(
        endpoint=http_url(target.endpoint, "/v1/traces"),
        timeout=target.timeout,
        session=SingleAttemptSession() if own_session() else None,
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
        exports = [(worker, guard) for worker, guard in _exports if worker.is_alive()]
        _exports.clear()
    running: list[tuple[threading.Thread, Watched | None]] = list(exports)
    for provider, exporter in known:
        worker = threading.Thread(target=provider.shutdown, daemon=True, name="floe-otel-stop")
        worker.start()
        running.append((worker, exporter))
    deadline = time.monotonic() + timeout
    while running and time.monotonic() < deadline:
        if all(guard is not None and guard.stuck for _, guard in running):
            break
        running[0][0].join(min(_POLL, max(0.0, deadline - time.monotonic())))
        running = [(worker, guard) for worker, guard in running if worker.is_alive()]
    for _, left in running:
        if left is not None and left.busy_for is not None:
            left.abandon()


atexit.register(shutdown_all)
