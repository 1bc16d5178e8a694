"""floe's own OpenLineage facets, each with a JSON Schema this package ships (schemas/)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import attr
from openlineage.client.generated.base import DatasetFacet, RunFacet
from openlineage.client.utils import RedactMixin

__all__ = [
    "SCHEMA_DIR",
    "ColumnClassification",
    "ColumnClassificationDatasetFacet",
    "TraceCorrelationRunFacet",
]

#: Where the JSON Schemas of floe's facets live; their ``$id`` is what ``_schemaURL`` names.
SCHEMA_DIR = Path(__file__).parent / "schemas"
_BASE = "https://floe.dev/schemas/openlineage/1-0-0"


@attr.define
class ColumnClassification(RedactMixin):
    """How sensitive one column is."""

    classification: str
    sensitivity: str
    piiType: str | None = attr.field(default=None)  # noqa: N815 - OpenLineage field name

    _skip_redact: ClassVar[list[str]] = ["classification", "sensitivity", "piiType"]


@attr.define
class ColumnClassificationDatasetFacet(DatasetFacet):
    """Column classifications of a dataset (FR-015); facet key ``columnClassification``."""

    columns: dict[str, ColumnClassification] = attr.field(factory=dict)

    @staticmethod
    def _get_schema() -> str:
        return (
            f"{_BASE}/ColumnClassificationDatasetFacet.json#/$defs/ColumnClassificationDatasetFacet"
        )


@attr.define
class TraceCorrelationRunFacet(RunFacet):
    """The OpenTelemetry span of a run (SC-008); facet key ``traceCorrelation``."""

    traceId: str  # noqa: N815 - OpenLineage field name
    spanId: str  # noqa: N815 - OpenLineage field name

    _additional_skip_redact: ClassVar[list[str]] = ["traceId", "spanId"]

    @staticmethod
    def _get_schema() -> str:
        name = "TraceCorrelationRunFacet"
        return f"{_BASE}/{name}.json#/$defs/{name}"
