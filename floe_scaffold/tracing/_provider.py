"""A private TracerProvider per target, exporting in the background, with a bounded shutdown.

The SDK's own exit handler can hold a process 7-10 s when the collector is down (longer when a
timeout is given in milliseconds by mistake). Here ``shutdown_on_exit`` is off and an exit hook
runs the shutdown in a daemon thread, waiting at most :data:`SHUTDOWN_SECONDS`.

gRPC cannot use credentials in an endpoint URL (``http://user:token@collector:4317``): it would
take them for part of the host name and print them in every export error. They are dropped, with
a warning that does not repeat them; credentials go in ``OTEL_EXPORTER_OTLP_HEADERS``.
"""

from __future__ import annotations

import atexit
import logging
import threading
from urllib.parse import urlsplit, urlunsplit

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from floe_scaffold.tracing._config import TracingTarget

__all__ = ["SHUTDOWN_SECONDS", "provider_for", "shutdown_all"]

SHUTDOWN_SECONDS = 1.5
_providers: dict[tuple[object, ...], TracerProvider] = {}
_lock = threading.Lock()
logger = logging.getLogger("floe_scaffold.tracing")


def _exporter(target: TracingTarget) -> object:
    assert target.endpoint is not None  # noqa: S101 - only called when exporting
    if target.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        parts = urlsplit(target.endpoint)
        endpoint = target.endpoint
        if "@" in parts.netloc:
            host = parts.netloc.rpartition("@")[2]
            endpoint = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
            logger.warning(
                "the OTLP gRPC endpoint %s://%s carries credentials in its URL, which gRPC cannot "
                "use; they were dropped (send them with OTEL_EXPORTER_OTLP_HEADERS)",
                parts.scheme,
                host,
            )
        return OTLPSpanExporter(
            endpoint=endpoint,
            insecure=parts.scheme != "https",
            timeout=target.timeout,
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpSpanExporter,
    )

    parts = urlsplit(target.endpoint)
    path = parts.path.rstrip("/")
    if not path.endswith("/v1/traces"):
        path = f"{path}/v1/traces"
    url = urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))
    return HttpSpanExporter(endpoint=url, timeout=target.timeout)


def provider_for(target: TracingTarget) -> TracerProvider:
    """The process's provider for ``target``: spans always, an exporter only with an endpoint."""
    key = (target.endpoint, target.protocol, target.timeout, tuple(sorted(target.resource.items())))
    with _lock:
        provider = _providers.get(key)
        if provider is None:
            provider = TracerProvider(
                resource=Resource.create(target.resource), shutdown_on_exit=False
            )
            if target.exports:
                provider.add_span_processor(BatchSpanProcessor(_exporter(target)))  # type: ignore[arg-type]
            _providers[key] = provider
        return provider


def shutdown_all(timeout: float = SHUTDOWN_SECONDS) -> None:
    """Shut every provider down in a daemon thread; never hold the process longer."""
    with _lock:
        providers = list(_providers.values())
        _providers.clear()
    if not providers:
        return

    def stop() -> None:
        for provider in providers:
            provider.shutdown()

    worker = threading.Thread(target=stop, daemon=True, name="floe-otel-shutdown")
    worker.start()
    worker.join(timeout)


atexit.register(shutdown_all)
