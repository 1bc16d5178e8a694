"""Whether spans are made and where they are exported, from the contract, OTEL_*, the component.

Precedence, highest first: ``OTEL_SDK_DISABLED=true`` (off); the component's
``tracing: {enabled, endpoint, protocol, timeout}``; the standard
``OTEL_EXPORTER_OTLP_TRACES_*`` / ``OTEL_EXPORTER_OTLP_*`` variables; the contract's
``observability.traces`` and ``otlp_endpoint``. With tracing on and no endpoint anywhere, spans
are still made (so logs carry trace ids) but nothing is exported: no exporter, no connection.

The protocol is ``grpc`` or ``http/protobuf``: as set, else ``grpc`` for an endpoint on port
4317 and ``http/protobuf`` otherwise. Timeouts are seconds (as the Python exporters read them),
2 s by default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["TracingTarget", "resolve_tracing"]

_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class TracingTarget:
    """The resolved tracing settings of one component."""

    enabled: bool
    endpoint: str | None = None
    protocol: str = "http/protobuf"
    timeout: float = 2.0
    resource: dict[str, str] = field(default_factory=dict)

    @property
    def exports(self) -> bool:
        """Whether spans leave the process."""
        return self.enabled and self.endpoint is not None


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def resolve_tracing(
    *,
    service_name: str,
    enabled: bool | None = None,
    endpoint: str | None = None,
    protocol: str | None = None,
    timeout: float | None = None,
    contract_enabled: bool = True,
    contract_endpoint: str | None = None,
    attributes: dict[str, str] | None = None,
) -> TracingTarget:
    """Resolve the settings above (reads the environment once, here)."""
    resource = {"service.name": service_name, **(attributes or {})}
    switched_on = contract_enabled if enabled is None else enabled
    if _env("OTEL_SDK_DISABLED", "OTEL_TRACES_DISABLED") in {*_TRUE, *(v.upper() for v in _TRUE)}:
        switched_on = False
    if not switched_on:
        return TracingTarget(False, resource=resource)
    where = (
        endpoint
        or _env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
        or contract_endpoint
    )
    if where and "://" not in where:
        where = f"http://{where}"  # `collector:4317` means plain text, as collectors listen
    how = protocol or _env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
    if how is None:
        how = "grpc" if where and urlsplit(where).port == 4317 else "http/protobuf"
    seconds = timeout
    if seconds is None:
        raw = _env("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")
        try:
            seconds = float(raw) if raw else 2.0
        except ValueError:
            seconds = 2.0
    return TracingTarget(True, where, how, seconds, resource)
