"""The built-in demo contract: DuckDB in a file inside the project, lineage on, no endpoints."""

from __future__ import annotations

import json

__all__ = ["demo_contract_text"]

_DEMO = {
    "version": "1.0.0",
    "metadata": {
        "compiled_at": "2026-01-01T00:00:00Z",
        "floe_core_version": "0.1.0",
        "source_hash": "floe-scaffold-demo",
    },
    "compute": {
        "target": "duckdb",
        "connection_secret_ref": None,
        "properties": {"path": "warehouse.duckdb", "threads": 4},
    },
    "transforms": [{"type": "dbt", "path": "dbt", "target": "dev"}],
    "observability": {
        "traces": True,
        "metrics": True,
        "lineage": True,
        "otlp_endpoint": None,
        "lineage_endpoint": None,
        "attributes": {"deployment.environment": "development"},
    },
    "dbt_profiles_path": ".floe/profiles",
    "lineage_namespace": "floe-demo",
}


def demo_contract_text() -> str:
    """The demo contract as JSON text (what lands in ``.floe/compiled_artifacts.json``)."""
    return json.dumps(_DEMO, indent=2) + "\n"
