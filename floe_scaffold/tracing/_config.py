"""Whether spans and metrics are made and where they go, from the contract, OTEL_*, the component.

Precedence, highest first: ``OTEL_SDK_DISABLED=true`` (off); the component's
``tracing: {enabled, endpoint, protocol, timeout}``; the standard
``OTEL_EXPORTER_OTLP_TRACES_*`` / ``OTEL_EXPORTER_OTLP_*`` variables; the contract's
``observability.traces`` and ``otlp_endpoint``. With tracing on and no endpoint anywhere, spans
are still made (so logs carry trace ids) but nothing is exported: no exporter, no connection.

The protocol is ``grpc`` or ``http/protobuf``: as set, else ``grpc`` for an endpoint on port
4317 and ``http/protobuf`` otherwise. Timeouts are seconds (as the Python exporters read them),
2 s by default.

Metrics (:func:`resolve_metrics`) resolve the same way with their own names: the component's
``metrics:`` block, ``OTEL_EXPORTER_OTLP_METRICS_*`` before ``OTEL_EXPORTER_OTLP_*``, the contract's
``observability.metrics``; ``OTEL_METRICS_EXPORTER=none`` (or any exporter but ``otlp``) turns
them off. Unlike spans, metrics are only made when they leave the process: with no endpoint there
is no meter provider at all. Temporality is delta unless the component or
``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`` says ``cumulative``: a run exports its
metrics once, at its end, so each export is exactly what that run did
(``docs/how-to/telemetry.md``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["MetricsTarget", "TracingTarget", "resolve_metrics", "resolve_tracing"]

_TRUE = {"1", "true", "yes", "on"}
_TEMPORALITIES = ("delta", "cumulative")


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


def _sdk_disabled(*names: str) -> bool:
    return (_env("OTEL_SDK_DISABLED", *names) or "").lower() in _TRUE


def _where(signal: str, endpoint: str | None, contract_endpoint: str | None) -> str | None:
    where = (
        endpoint
        or _env(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
        or contract_endpoint
    )
    if where and "://" not in where:
        where = f"http://{where}"  # `collector:4317` means plain text, as collectors listen
    return where


def _how(signal: str, where: str | None, protocol: str | None) -> str:
    how = protocol or _env(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
    if how is None:
        how = "grpc" if where and urlsplit(where).port == 4317 else "http/protobuf"
    return how


def _timeout(signal: str, timeout: float | None) -> float:
    if timeout is not None:
        return timeout
    raw = _env(f"OTEL_EXPORTER_OTLP_{signal}_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")
    try:
        return float(raw) if raw else 2.0
    except ValueError:
        return 2.0


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
    if _sdk_disabled("OTEL_TRACES_DISABLED"):
        switched_on = False
    if not switched_on:
        return TracingTarget(False, resource=resource)
    where = _where("TRACES", endpoint, contract_endpoint)
    return TracingTarget(
        True, where, _how("TRACES", where, protocol), _timeout("TRACES", timeout), resource
    )


@dataclass(frozen=True)
class MetricsTarget:
    """The resolved metrics settings of one component (``off`` says why they are off)."""

    enabled: bool
    endpoint: str | None = None
    protocol: str = "http/protobuf"
    timeout: float = 2.0
    resource: dict[str, str] = field(default_factory=dict)
    temporality: str = "delta"
    off: str = ""

    @property
    def exports(self) -> bool:
        """Whether metrics are recorded at all (only when they can leave the process)."""
        return self.enabled and self.endpoint is not None


def resolve_metrics(
    *,
    service_name: str,
    enabled: bool | None = None,
    endpoint: str | None = None,
    protocol: str | None = None,
    timeout: float | None = None,
    temporality: str | None = None,
    contract_enabled: bool = True,
    contract_endpoint: str | None = None,
    attributes: dict[str, str] | None = None,
) -> MetricsTarget:
    """Resolve the metrics settings (see the module docstring; reads the environment here)."""
    resource = {"service.name": service_name, **(attributes or {})}
    exporters = {
        name.strip().lower()
        for name in (_env("OTEL_METRICS_EXPORTER") or "otlp").split(",")
        if name.strip()
    }
    why = ""
    if _sdk_disabled():
        why = "OTEL_SDK_DISABLED"
    elif "otlp" not in exporters:
        why = f"OTEL_METRICS_EXPORTER={','.join(sorted(exporters)) or 'none'}"
    elif not (contract_enabled if enabled is None else enabled):
        why = "switched off"
    if why:
        return MetricsTarget(False, resource=resource, off=why)
    where = _where("METRICS", endpoint, contract_endpoint)
    chosen = (
        temporality or _env("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE") or "delta"
    ).lower()
    return MetricsTarget(
        True,
        where,
        _how("METRICS", where, protocol),
        _timeout("METRICS", timeout),
        resource,
        chosen if chosen in _TEMPORALITIES else "delta",
    )
