"""Fixtures for lineage tests: the event validator, a receiver per test, and broken endpoints."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import OPENLINEAGE_SPEC_DIR, ROOT
from tests.observability.lineage_receiver import (
    LineageReceiver,
    OpenLineageValidator,
    garbage_endpoint,
    hanging_endpoint,
    refused_endpoint,
    slow_drip_endpoint,
    unresolvable_endpoint,
)

#: floe's own facet schemas (e.g. ColumnClassificationDatasetFacet.json), registered when present.
FLOE_FACET_SCHEMA_DIR = ROOT / "floe_scaffold" / "lineage" / "schemas"


def floe_facet_schema_files() -> list[Path]:
    """The custom facet schema files floe ships (none until ``floe_scaffold/lineage`` exists)."""
    if not FLOE_FACET_SCHEMA_DIR.is_dir():
        return []
    return sorted(FLOE_FACET_SCHEMA_DIR.glob("*.json"))


@pytest.fixture(scope="session")
def lineage_validator() -> OpenLineageValidator:
    """The official OpenLineage schemas plus floe's custom facet schemas."""
    return OpenLineageValidator(OPENLINEAGE_SPEC_DIR, extra_schema_files=floe_facet_schema_files())


@pytest.fixture
def lineage_receiver(lineage_validator: OpenLineageValidator) -> Iterator[LineageReceiver]:
    """A running Marquez-like receiver on 127.0.0.1 (mode ``ok``; set ``.mode`` to change it)."""
    with LineageReceiver(lineage_validator) as receiver:
        yield receiver


@pytest.fixture
def openlineage_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Isolate openlineage-python from the machine: no ``OPENLINEAGE_*`` variable, no YAML config.

    ``OPENLINEAGE_DISABLED=true`` wins even over an explicit ``transport=``, and a stray
    ``openlineage.yml`` (cwd or ``~/.openlineage``) would add filters or tags. So
    ``OPENLINEAGE_CONFIG`` points at a harmless file of this test's own, which the client reads
    first. Returns that file.
    """
    for name in list(os.environ):
        if name.upper().startswith("OPENLINEAGE"):
            monkeypatch.delenv(name)
    config = tmp_path / "openlineage.yml"
    config.write_text("tags: {}\n", encoding="utf-8")
    monkeypatch.setenv("OPENLINEAGE_CONFIG", str(config))
    return config


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A ``http://127.0.0.1:PORT`` whose connections are refused."""
    with refused_endpoint() as url:
        yield url


@pytest.fixture
def hanging_url() -> Iterator[str]:
    """A ``http://127.0.0.1:PORT`` that accepts connections and never answers."""
    with hanging_endpoint() as url:
        yield url


@pytest.fixture
def unresolvable_url() -> Iterator[str]:
    """A URL whose host never resolves, decided locally (no DNS): ``UNRESOLVABLE_URL``."""
    with unresolvable_endpoint() as url:
        yield url


@pytest.fixture
def garbage_url() -> Iterator[str]:
    """A ``http://127.0.0.1:PORT`` that answers random bytes, then closes."""
    with garbage_endpoint() as url:
        yield url


@pytest.fixture
def slow_drip_url() -> Iterator[str]:
    """A ``http://127.0.0.1:PORT`` that answers a valid 201, one byte per second (about 44 s)."""
    with slow_drip_endpoint() as url:
        yield url


# --------------------------------------------------------------------------------------------------
# OpenTelemetry: an OTLP receiver per test, and an environment without OTEL_* variables
# --------------------------------------------------------------------------------------------------

# Imported here, not at the top, so this section stays an append-only addition to the file.
from tests.observability.otlp_receiver import OtlpReceiver  # noqa: E402


@pytest.fixture
def otlp_receiver() -> Iterator[OtlpReceiver]:
    """A running OTLP trace receiver (gRPC + HTTP) on 127.0.0.1 (mode ``ok``; set ``.mode``)."""
    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture
def otel_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Isolate the OpenTelemetry SDK from the machine: no ``OTEL_*`` variable is set.

    The SDK and the exporters read ``OTEL_SDK_DISABLED``, ``OTEL_SERVICE_NAME``,
    ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_EXPORTER_OTLP_*`` etc. when objects are *built*, so a stray
    variable changes what a test sees. Returns the monkeypatch, to set variables for this test only.
    """
    for name in list(os.environ):
        if name.upper().startswith("OTEL_"):
            monkeypatch.delenv(name)
    return monkeypatch
