"""The contract's JSON Schema (Draft 2020-12), exported from the models."""

from __future__ import annotations

import json
from typing import Any

from floe_scaffold.contract._models import CompiledArtifacts

__all__ = ["SCHEMA_ID", "contract_json_schema", "contract_json_schema_text"]

SCHEMA_ID = "https://floe.dev/schemas/compiled-artifacts.schema.json"
_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def contract_json_schema() -> dict[str, Any]:
    """The JSON Schema of CompiledArtifacts v1, as a dict."""
    schema = CompiledArtifacts.model_json_schema(mode="validation")
    return {"$schema": _DIALECT, "$id": SCHEMA_ID, **schema}


def contract_json_schema_text() -> str:
    """The JSON Schema as stable, indented text (what ``floe schema`` prints)."""
    return json.dumps(contract_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
