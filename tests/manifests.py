"""Synthetic dbt manifests of any size with a random DAG (no warehouse, no dbt parse).

The node shape is the one dbt 1.11 writes (manifest v12), trimmed to what dagster-dbt reads.
Used by the asset-graph tests (SC-003) and by the scale benchmarks.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

_FOLDERS = ("staging", "intermediate", "marts")


def _column(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "description": "",
        "meta": {},
        "data_type": None,
        "constraints": [],
        "quote": None,
        "config": {"meta": {}, "tags": []},
        "tags": [],
        "granularity": None,
        "doc_blocks": [],
    }


def _node(project: str, kind: str, name: str, folder: str, materialized: str) -> dict[str, Any]:
    unique_id = f"{kind}.{project}.{name}"
    ephemeral = materialized == "ephemeral"
    return {
        "database": "warehouse",
        "schema": "main",
        "name": name,
        "resource_type": kind,
        "package_name": project,
        "path": f"{folder}/{name}.sql",
        "original_file_path": f"{'seeds' if kind == 'seed' else 'models'}/{folder}/{name}.sql",
        "unique_id": unique_id,
        "fqn": [project, folder, name],
        "alias": name,
        "checksum": {"name": "sha256", "checksum": "0" * 64},
        "config": {
            "enabled": True,
            "alias": None,
            "schema": None,
            "database": None,
            "tags": [],
            "meta": {},
            "group": None,
            "materialized": materialized,
            "docs": {"show": True, "node_color": None},
        },
        "tags": [],
        "description": f"{kind} {name}",
        "columns": {"id": _column("id")},
        "meta": {},
        "group": None,
        "docs": {"show": True, "node_color": None},
        "patch_path": None,
        "build_path": None,
        "unrendered_config": {},
        "created_at": 0.0,
        "relation_name": None if ephemeral else f'"warehouse"."main"."{name}"',
        "raw_code": "select 1 as id",
        "doc_blocks": [],
        "language": "sql",
        "refs": [],
        "sources": [],
        "metrics": [],
        "functions": [],
        "depends_on": {"macros": [], "nodes": []},
        "compiled_path": None,
        "contract": {"enforced": False, "alias_types": True, "checksum": None},
        "access": "protected",
        "constraints": [],
        "version": None,
        "latest_version": None,
        "deprecation_date": None,
        "primary_key": [],
        "time_spine": None,
    }


def _source(project: str, name: str) -> dict[str, Any]:
    return {
        "database": "warehouse",
        "schema": "raw",
        "name": name,
        "resource_type": "source",
        "package_name": project,
        "path": "models/sources.yml",
        "original_file_path": "models/sources.yml",
        "unique_id": f"source.{project}.raw.{name}",
        "fqn": [project, "raw", name],
        "source_name": "raw",
        "source_description": "",
        "loader": "",
        "identifier": name,
        "quoting": {},
        "loaded_at_field": None,
        "freshness": None,
        "external": None,
        "description": "",
        "columns": {},
        "meta": {},
        "source_meta": {},
        "tags": [],
        "config": {"enabled": True, "meta": {}, "tags": []},
        "patch_path": None,
        "unrendered_config": {},
        "relation_name": f'"warehouse"."raw"."{name}"',
        "created_at": 0.0,
        "doc_blocks": [],
    }


def synthetic_manifest(models: int, *, seed: int = 0, project: str = "synthetic") -> dict[str, Any]:
    """A manifest with ``models`` models (about 10% ephemeral), seeds and sources.

    Each model refs 1-3 earlier nodes, drawn with a bias towards recent ones, so the DAG has long
    chains as well as wide fan-in, like real projects.
    """
    rng = random.Random(seed)
    nodes: dict[str, dict[str, Any]] = {}
    sources: dict[str, dict[str, Any]] = {}
    parent_map: dict[str, list[str]] = {}
    upstream_pool: list[str] = []
    for index in range(max(2, models // 20)):
        source = _source(project, f"raw_table_{index}")
        sources[source["unique_id"]] = source
        parent_map[source["unique_id"]] = []
        upstream_pool.append(source["unique_id"])
    for index in range(max(1, models // 10)):
        seed_node = _node(project, "seed", f"seed_{index}", "seeds", "seed")
        nodes[seed_node["unique_id"]] = seed_node
        parent_map[seed_node["unique_id"]] = []
        upstream_pool.append(seed_node["unique_id"])
    for index in range(models):
        folder = _FOLDERS[min(2, index * 3 // max(models, 1))]
        materialized = "ephemeral" if rng.random() < 0.1 else rng.choice(("view", "table"))
        node = _node(project, "model", f"model_{index}", folder, materialized)
        count = min(len(upstream_pool), rng.randint(1, 3))
        recent = upstream_pool[-50:]
        parents = sorted(
            {rng.choice(recent if rng.random() < 0.7 else upstream_pool) for _ in range(count)}
        )
        node["depends_on"]["nodes"] = parents
        nodes[node["unique_id"]] = node
        parent_map[node["unique_id"]] = parents
        upstream_pool.append(node["unique_id"])
    child_map: dict[str, list[str]] = {unique_id: [] for unique_id in parent_map}
    for child, parents in parent_map.items():
        for parent in parents:
            child_map[parent].append(child)
    return {
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
            "dbt_version": "1.11.16",
            "generated_at": "2026-01-01T00:00:00Z",
            "invocation_id": "00000000-0000-0000-0000-000000000000",
            "env": {},
            "project_name": project,
            "project_id": "0" * 32,
            "user_id": None,
            "send_anonymous_usage_stats": False,
            "adapter_type": "duckdb",
        },
        "nodes": nodes,
        "sources": sources,
        "macros": {},
        "docs": {},
        "exposures": {},
        "metrics": {},
        "groups": {},
        "selectors": {},
        "disabled": {},
        "parent_map": parent_map,
        "child_map": child_map,
        "group_map": {},
        "saved_queries": {},
        "semantic_models": {},
        "unit_tests": {},
        "functions": {},
    }


def write_manifest(directory: Path, manifest: dict[str, Any]) -> Path:
    """Write ``manifest`` as ``directory/target/manifest.json``."""
    target = directory / "target"
    target.mkdir(parents=True, exist_ok=True)
    path = target / "manifest.json"
    path.write_text(json.dumps(manifest), encoding="utf-8")
    return path
