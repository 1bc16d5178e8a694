"""Synthetic dbt manifests of any size with a realistic DAG (no warehouse, no dbt parse).

The node shape is the one dbt 1.11 writes (manifest v12), trimmed to what dagster-dbt reads.
Used by the asset-graph tests (SC-003) and by the scale benchmarks.

The shape follows dbt's own project layout, in subject areas (domains) of about 150 models:

* sources (one schema ``raw_<domain>`` per domain) and a few seeds (lookup tables);
* ``staging`` (40 % of the models, views): each reads one source table or seed, a few union two;
* ``intermediate`` (30 %): joins of 1-5 staging or earlier intermediate models, mostly of its own
  domain; about a third are ephemeral, the rest views or tables;
* ``marts`` (30 %, tables or incremental): fan-in of 1-15 parents (heavy-tailed, mean about 3.5)
  from intermediate and staging models, seeds and earlier marts, so chains run deep as well;
* generic tests: ``unique`` + ``not_null`` on staging and mart keys, ``accepted_values`` on some
  staging columns, ``relationships`` from some marts to a parent, ``not_null`` on some
  intermediate tables (about 1.7 tests per model);
* documented columns (more on marts), an owner in ``meta.floe`` on marts and a classified
  (PII) column on some of them.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_DOMAINS_EVERY = 150  # models per subject area


def _column(name: str, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "description": "",
        "meta": meta or {},
        "data_type": None,
        "constraints": [],
        "quote": None,
        "config": {"meta": meta or {}, "tags": []},
        "tags": [],
        "granularity": None,
        "doc_blocks": [],
    }


def _node(project: str, kind: str, name: str, folder: str, materialized: str) -> dict[str, Any]:
    unique_id = f"{kind}.{project}.{name}"
    ephemeral = materialized == "ephemeral"
    top = "seeds" if kind == "seed" else "models"
    return {
        "database": "warehouse",
        "schema": "main",
        "name": name,
        "resource_type": kind,
        "package_name": project,
        "path": f"{folder}/{name}.{'csv' if kind == 'seed' else 'sql'}",
        "original_file_path": f"{top}/{folder}/{name}.{'csv' if kind == 'seed' else 'sql'}",
        "unique_id": unique_id,
        "fqn": [project, *folder.split("/"), name],
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


def _source(project: str, name: str, source_name: str = "raw") -> dict[str, Any]:
    return {
        "database": "warehouse",
        "schema": source_name,
        "name": name,
        "resource_type": "source",
        "package_name": project,
        "path": "models/sources.yml",
        "original_file_path": "models/sources.yml",
        "unique_id": f"source.{project}.{source_name}.{name}",
        "fqn": [project, source_name, name],
        "source_name": source_name,
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
        "relation_name": f'"warehouse"."{source_name}"."{name}"',
        "created_at": 0.0,
        "doc_blocks": [],
    }


def _test(
    project: str, kind: str, model: dict[str, Any], column: str, other: dict[str, Any] | None
) -> dict[str, Any]:
    """A generic test on ``model.column`` (``relationships`` also depends on ``other``)."""
    name = f"{kind}_{model['name']}_{column}"
    kwargs: dict[str, Any] = {"column_name": column}
    refs = [{"name": model["name"], "package": None, "version": None}]
    depends = [model["unique_id"]]
    if other is not None:
        name = f"{kind}_{model['name']}_{column}__id__ref_{other['name']}_"
        kwargs["to"] = f"ref('{other['name']}')"
        kwargs["field"] = "id"
        refs.append({"name": other["name"], "package": None, "version": None})
        depends.append(other["unique_id"])
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return {
        "database": "warehouse",
        "schema": "main_dbt_test__audit",
        "name": name,
        "resource_type": "test",
        "package_name": project,
        "path": f"{name}.sql",
        "original_file_path": model["original_file_path"].rsplit("/", 1)[0] + "/_schema.yml",
        "unique_id": f"test.{project}.{name}.{digest}",
        "fqn": [project, *model["fqn"][1:-1], name],
        "alias": name,
        "checksum": {"name": "none", "checksum": ""},
        "config": {
            "enabled": True,
            "alias": None,
            "schema": "dbt_test__audit",
            "database": None,
            "tags": [],
            "meta": {},
            "group": None,
            "materialized": "test",
            "severity": "ERROR",
            "store_failures": None,
            "where": None,
            "limit": None,
            "fail_calc": "count(*)",
            "warn_if": "!= 0",
            "error_if": "!= 0",
        },
        "tags": [],
        "description": "",
        "columns": {},
        "meta": {},
        "group": None,
        "docs": {"show": True, "node_color": None},
        "patch_path": None,
        "build_path": None,
        "unrendered_config": {},
        "created_at": 0.0,
        "relation_name": None,
        "raw_code": f"{{{{ test_{kind}(**_dbt_generic_test_kwargs) }}}}",
        "doc_blocks": [],
        "language": "sql",
        "refs": refs,
        "sources": [],
        "metrics": [],
        "functions": [],
        "depends_on": {"macros": [f"macro.dbt.test_{kind}"], "nodes": depends},
        "compiled_path": None,
        "contract": {"enforced": False, "alias_types": True, "checksum": None},
        "column_name": column,
        "file_key_name": f"models.{model['name']}",
        "attached_node": model["unique_id"],
        "test_metadata": {"name": kind, "kwargs": kwargs, "namespace": None},
    }


@dataclass
class _Domain:
    """The models of one subject area made so far, by layer (unique ids)."""

    name: str
    staging: list[str] = field(default_factory=list)
    intermediate: list[str] = field(default_factory=list)
    marts: list[str] = field(default_factory=list)


@dataclass
class _Builder:
    project: str
    rng: random.Random
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    parent_map: dict[str, list[str]] = field(default_factory=dict)
    seeds: list[str] = field(default_factory=list)

    def add(self, node: dict[str, Any], parents: list[str]) -> dict[str, Any]:
        node["depends_on"]["nodes"] = parents
        node["refs"] = [
            {"name": self.nodes[p]["name"], "package": None, "version": None}
            for p in parents
            if p in self.nodes
        ]
        node["sources"] = [
            [self.sources[p]["source_name"], self.sources[p]["name"]]
            for p in parents
            if p in self.sources
        ]
        self.nodes[node["unique_id"]] = node
        self.parent_map[node["unique_id"]] = parents
        return node

    def columns(self, node: dict[str, Any], low: int, high: int) -> None:
        for index in range(self.rng.randint(low, high)):
            node["columns"][f"col_{index}"] = _column(f"col_{index}")

    def test(
        self, kind: str, model: dict[str, Any], column: str, other: dict[str, Any] | None = None
    ) -> None:
        test = _test(self.project, kind, model, column, other)
        self.nodes[test["unique_id"]] = test
        self.parent_map[test["unique_id"]] = list(test["depends_on"]["nodes"])

    def pick(self, count: int, pools: list[tuple[float, list[str]]]) -> list[str]:
        """``count`` distinct parents, each from a pool drawn by weight (empty pools skipped)."""
        usable = [(weight, pool) for weight, pool in pools if pool]
        available = len({node for _, pool in usable for node in pool})
        chosen: set[str] = set()
        while len(chosen) < min(count, available):
            pool = self.rng.choices([p for _, p in usable], [w for w, _ in usable])[0]
            # recent models are likelier parents: they are the ones being built on
            chosen.add(pool[-1 - min(len(pool) - 1, int(self.rng.expovariate(3 / len(pool))))])
        return sorted(chosen)


def _layer_sizes(models: int) -> tuple[int, int, int]:
    staging = min(models, max(1, math.ceil(models * 0.4)))
    marts = min(models - staging, round(models * 0.3))
    return staging, models - staging - marts, marts


def _staging(builder: _Builder, domain: _Domain, index: int) -> None:
    rng = builder.rng
    folder = f"staging/{domain.name}"
    if builder.seeds and rng.random() < 0.08:
        parents = [rng.choice(builder.seeds)]
    else:
        tables = 2 if rng.random() < 0.05 else 1
        parents = []
        for table in range(tables):
            source = _source(builder.project, f"table_{index}_{table}", f"raw_{domain.name}")
            builder.sources[source["unique_id"]] = source
            builder.parent_map[source["unique_id"]] = []
            parents.append(source["unique_id"])
    name = f"stg_{domain.name}__{index}"
    node = builder.add(_node(builder.project, "model", name, folder, "view"), parents)
    builder.columns(node, 2, 6)
    builder.test("unique", node, "id")
    builder.test("not_null", node, "id")
    if rng.random() < 0.2:
        builder.test("accepted_values", node, "col_0")
    domain.staging.append(node["unique_id"])


def _intermediate(builder: _Builder, domain: _Domain, others: list[_Domain], index: int) -> None:
    rng = builder.rng
    roll = rng.random()
    materialized = "ephemeral" if roll < 0.3 else "view" if roll < 0.7 else "table"
    count = rng.choices((1, 2, 3, 4, 5), (25, 40, 20, 10, 5))[0]
    other = rng.choice(others)
    parents = builder.pick(
        count,
        [(0.7, domain.staging), (0.2, domain.intermediate), (0.1, other.staging)],
    )
    name = f"int_{domain.name}__{index}"
    node = _node(builder.project, "model", name, f"intermediate/{domain.name}", materialized)
    builder.add(node, parents)
    builder.columns(node, 1, 4)
    if materialized != "ephemeral" and rng.random() < 0.5:
        builder.test("not_null", node, "id")
    domain.intermediate.append(node["unique_id"])


def _mart(builder: _Builder, domain: _Domain, others: list[_Domain], index: int) -> None:
    rng = builder.rng
    count = 1 + min(14, int(rng.expovariate(1 / 2.5)))
    other = rng.choice(others)
    marts = [uid for d in (domain, other) for uid in d.marts]
    parents = builder.pick(
        count,
        [
            (0.5, domain.intermediate),
            (0.2, domain.staging),
            (0.15, marts),
            (0.1, other.intermediate),
            (0.05, builder.seeds),
        ],
    )
    kind = "fct" if rng.random() < 0.6 else "dim"
    materialized = "incremental" if rng.random() < 0.25 else "table"
    name = f"{kind}_{domain.name}__{index}"
    node = _node(builder.project, "model", name, f"marts/{domain.name}", materialized)
    builder.add(node, parents)
    builder.columns(node, 4, 15)
    node["meta"] = node["config"]["meta"] = {"floe": {"owner": f"team:{domain.name}"}}
    if rng.random() < 0.2:
        pii = {"floe": {"classification": "pii", "pii_type": "email", "sensitivity": "high"}}
        node["columns"]["email"] = _column("email", pii)
    builder.test("unique", node, "id")
    builder.test("not_null", node, "id")
    targets = [
        p
        for p in parents
        if p in builder.nodes and builder.nodes[p]["config"]["materialized"] != "ephemeral"
    ]
    if targets and rng.random() < 0.3:
        builder.test("relationships", node, "id", builder.nodes[rng.choice(targets)])
    domain.marts.append(node["unique_id"])


def synthetic_manifest(models: int, *, seed: int = 0, project: str = "synthetic") -> dict[str, Any]:
    """A manifest with exactly ``models`` models (about 10% ephemeral), sources, seeds and tests.

    Deterministic for a given ``seed``; the DAG shape is described in the module docstring.
    """
    builder = _Builder(project, random.Random(seed))
    domains = [_Domain(f"domain{i}") for i in range(max(1, round(models / _DOMAINS_EVERY)))]
    for index in range(max(1, models // 40)):
        node = _node(project, "seed", f"seed_{index}", "lookups", "seed")
        builder.add(node, [])
        builder.seeds.append(node["unique_id"])
    staging, intermediate, marts = _layer_sizes(models)
    for index in range(staging):
        _staging(builder, domains[index % len(domains)], index)
    for index in range(intermediate):
        _intermediate(builder, domains[index % len(domains)], domains, index)
    for index in range(marts):
        _mart(builder, domains[index % len(domains)], domains, index)
    return _manifest(builder)


def _manifest(builder: _Builder) -> dict[str, Any]:
    child_map: dict[str, list[str]] = {unique_id: [] for unique_id in builder.parent_map}
    for child, parents in builder.parent_map.items():
        for parent in parents:
            child_map[parent].append(child)
    return {
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
            "dbt_version": "1.11.16",
            "generated_at": "2026-01-01T00:00:00Z",
            "invocation_id": "00000000-0000-0000-0000-000000000000",
            "env": {},
            "project_name": builder.project,
            "project_id": "0" * 32,
            "user_id": None,
            "send_anonymous_usage_stats": False,
            "adapter_type": "duckdb",
        },
        "nodes": builder.nodes,
        "sources": builder.sources,
        "macros": {},
        "docs": {},
        "exposures": {},
        "metrics": {},
        "groups": {},
        "selectors": {},
        "disabled": {},
        "parent_map": builder.parent_map,
        "child_map": {key: sorted(value) for key, value in child_map.items()},
        "group_map": {},
        "saved_queries": {},
        "semantic_models": {},
        "unit_tests": {},
        "functions": {},
    }


def dag_shape(manifest: dict[str, Any]) -> dict[str, float]:
    """Summary of a manifest's DAG: counts by kind, ephemeral share, fan-in, longest chain."""
    nodes = manifest["nodes"]
    models = [uid for uid, node in nodes.items() if node["resource_type"] == "model"]
    fan_in = [len(manifest["parent_map"][uid]) for uid in models]
    depth: dict[str, int] = {}
    for uid in nodes:  # nodes are added parents-first, so one pass suffices
        if nodes[uid]["resource_type"] in ("model", "seed"):
            depth[uid] = 1 + max((depth.get(p, 0) for p in manifest["parent_map"][uid]), default=0)
    ephemeral = sum(1 for uid in models if nodes[uid]["config"]["materialized"] == "ephemeral")
    return {
        "models": len(models),
        "sources": len(manifest["sources"]),
        "seeds": sum(1 for node in nodes.values() if node["resource_type"] == "seed"),
        "tests": sum(1 for node in nodes.values() if node["resource_type"] == "test"),
        "ephemeral share": ephemeral / max(1, len(models)),
        "mean fan-in": sum(fan_in) / max(1, len(fan_in)),
        "max fan-in": max(fan_in, default=0),
        "longest chain": max(depth.values(), default=0),
    }


def write_manifest(directory: Path, manifest: dict[str, Any]) -> Path:
    """Write ``manifest`` as ``directory/target/manifest.json``."""
    target = directory / "target"
    target.mkdir(parents=True, exist_ok=True)
    path = target / "manifest.json"
    path.write_text(json.dumps(manifest), encoding="utf-8")
    return path
