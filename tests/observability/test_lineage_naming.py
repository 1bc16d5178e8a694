"""Names and event text, each compared with openlineage-dbt's own code (never typed in by hand).

The profiles are floe's, generated for every target; dbt-ol reads them with its own loader.
Manifests here are small and built inline (the dbt-ol runs on real projects are in
``test_dbt_ol_parity``); every expected name comes from openlineage-dbt.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openlineage.client.event_v2 import RunState
from openlineage.client.serde import Serde

from floe_scaffold import __version__
from floe_scaffold.contract import CompiledArtifacts
from floe_scaffold.lineage import dataset_name, dataset_namespace
from floe_scaffold.lineage._events import PRODUCER, run_event, strip_ansi
from floe_scaffold.profiles import Environment, build_profile, render_profiles_yaml, write_profiles
from floe_scaffold.project._locate import tomllib
from tests.helpers import ROOT, contract_for
from tests.observability.dbt_ol_oracle import (
    assert_same_assertions,
    assert_same_lineage,
    dbt_ol_events,
    dbt_ol_profile,
    floe_events,
    ol_dataset_name,
    ol_namespace,
    relations,
    run_results,
)
from tests.observability.lineage_receiver import OpenLineageValidator

# -- dataset namespaces: floe's generated profile, read by dbt-ol ----------------------------

#: Each target's defaults (tests/helpers.py), then other spellings users write.
PROFILES: list[tuple[str, dict[str, Any]]] = [
    ("duckdb", {}),
    ("duckdb", {"path": "/srv/data/warehouse.duckdb"}),
    ("postgres", {}),
    ("postgres", {"host": None}),  # read from FLOE_POSTGRES_HOST
    ("snowflake", {}),
    ("snowflake", {"account": "xy12345"}),
    ("snowflake", {"account": "xy12345.east-us-2.azure"}),
    ("snowflake", {"account": "myorg-myaccount"}),
    ("bigquery", {}),
    ("redshift", {}),
    ("redshift", {"port": 5440}),
    ("databricks", {}),
    ("spark", {}),
    ("spark", {"method": "http", "cluster": "abc"}),
]


def _profile(directory: Path, target: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """floe's profile for ``target`` written to ``directory``; returns its output."""
    data = contract_for(target)
    properties = data["compute"]["properties"]
    for key, value in overrides.items():
        if value is None:
            properties.pop(key, None)
        else:
            properties[key] = value
    artifacts = CompiledArtifacts.model_validate(data)
    profile = build_profile([Environment("dev", artifacts)])
    write_profiles(render_profiles_yaml(profile, regenerate="test"), directory)
    return dict(profile.outputs["dev"])


@pytest.mark.requirement("FR-014")
@pytest.mark.parametrize(("target", "overrides"), PROFILES)
def test_dataset_namespace_is_openlineage_dbts(
    target: str, overrides: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOE_POSTGRES_HOST", "pg.example")
    output = _profile(tmp_path, target, overrides)
    theirs = ol_namespace(dbt_ol_profile(tmp_path, "floe"))
    assert dataset_namespace(target, output) == theirs


def test_an_unset_variable_stays_visible_instead_of_failing_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # dbt-ol raises here; floe names the dataset with the variable left visible.
    monkeypatch.delenv("FLOE_POSTGRES_HOST", raising=False)
    output = _profile(tmp_path, "postgres", {"host": None})
    assert dataset_namespace("postgres", output) == "postgres://${FLOE_POSTGRES_HOST}:5433"


def test_a_local_spark_session_is_named_although_dbt_ol_names_none() -> None:
    output = {"type": "spark", "method": "session", "schema": "analytics"}
    assert dataset_namespace("spark", output) == "spark://localhost"


# -- dataset names ---------------------------------------------------------------------------

NODES: list[dict[str, Any]] = [
    {
        "resource_type": "model",
        "unique_id": "model.shop.orders",
        "name": "orders",
        "alias": "orders_v2",
        "database": "analytics",
        "schema": "marts",
    },
    {
        "resource_type": "source",
        "unique_id": "source.shop.app.events",
        "name": "events",
        "identifier": "raw_events",
        "database": "raw",
        "schema": "app",
    },
    {
        "resource_type": "model",
        "unique_id": "model.shop.orders",
        "name": "orders",
        "alias": "orders",
        "database": None,
        "schema": "analytics",
    },
]


@pytest.mark.requirement("FR-014")
@pytest.mark.parametrize("node", NODES, ids=["alias", "source", "no-database"])
def test_dataset_name_is_openlineage_dbts(node: dict[str, Any]) -> None:
    if node["resource_type"] == "source":  # the documented difference: the relation dbt reads
        assert ol_dataset_name(node) == "raw.app.events", "dbt-ol: the source's logical name"
        assert dataset_name(node) == "raw.app.raw_events", "floe: its identifier"
        return
    assert dataset_name(node) == ol_dataset_name(node)


# -- job names: one run through openlineage-dbt's processor and through floe's recorder -------


def _node(kind: str, name: str, **extra: Any) -> dict[str, Any]:
    package = extra.pop("package", "shop")
    return {
        "resource_type": kind,
        "unique_id": extra.pop("unique_id", f"{kind}.{package}.{name}"),
        "name": name,
        "alias": name,
        "database": "analytics",
        "schema": "snapshots" if kind == "snapshot" else "marts",
        "package_name": package,
        "original_file_path": f"models/{name}.sql",
        "columns": {},
        "config": {"materialized": "table"},
        **extra,
    }


def _test(name: str, test: str, column: str | None, **config: Any) -> dict[str, Any]:
    metadata = {"name": test, "kwargs": {"column_name": column}} if test else None
    return _node(
        "test",
        name,
        unique_id=f"test.shop.{name}.0a1b2c",
        schema="marts_dbt_test__audit",
        test_metadata=metadata,
        column_name=column,
        config={"severity": config.get("severity", "ERROR")},
    )


def _manifest() -> dict[str, Any]:
    """A project with what dbt-ol names differently: packages, versions, sources, tests."""
    nodes = [
        _node("seed", "raw_orders"),
        _node("model", "stg_orders"),
        _node("model", "orders", unique_id="model.shop.orders.v2", version=2),
        _node("model", "calendar", package="dbt_date"),
        _node("snapshot", "orders_snapshot"),
        _test("not_null_orders_id", "not_null", "id"),
        _test("unique_orders_id", "unique", "id", severity="warn"),
        _test("relationships_orders_id", "relationships", "id"),
        _test("assert_positive", "", None),
        _test("not_null_raw_orders_id", "not_null", "id"),
        _test("not_null_events_id", "not_null", "id"),
    ]
    source = {
        "resource_type": "source",
        "unique_id": "source.shop.app.events",
        "name": "events",
        "identifier": "raw_events",
        "database": "raw",
        "schema": "app",
        "columns": {},
    }
    parents = {
        "seed.shop.raw_orders": [],
        "model.shop.stg_orders": ["seed.shop.raw_orders", "source.shop.app.events"],
        "model.shop.orders.v2": ["model.shop.stg_orders", "model.dbt_date.calendar"],
        "model.dbt_date.calendar": [],
        "snapshot.shop.orders_snapshot": ["model.shop.orders.v2"],
        "test.shop.not_null_orders_id.0a1b2c": ["model.shop.orders.v2"],
        "test.shop.unique_orders_id.0a1b2c": ["model.shop.orders.v2"],
        "test.shop.relationships_orders_id.0a1b2c": [
            "model.shop.orders.v2",
            "model.shop.stg_orders",
        ],
        "test.shop.assert_positive.0a1b2c": ["model.shop.orders.v2", "seed.shop.raw_orders"],
        "test.shop.not_null_raw_orders_id.0a1b2c": ["seed.shop.raw_orders"],
        "test.shop.not_null_events_id.0a1b2c": ["source.shop.app.events"],
    }
    for item in [*nodes, source]:  # what dbt renders: a relation per table (tests have none)
        table = item.get("identifier") or item["alias"]
        if item["resource_type"] != "test":
            item["relation_name"] = ".".join(
                f'"{part}"' for part in (item["database"], item["schema"], table)
            )
    return {
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
            "dbt_version": "1.11.0",
            "adapter_type": "postgres",
            "project_name": "shop",
        },
        "nodes": {node["unique_id"]: node for node in nodes},
        "sources": {source["unique_id"]: source},
        "parent_map": parents,
        "exposures": {},
    }


@pytest.mark.requirement("FR-014")
@pytest.mark.parametrize("command", ["build", "run", "test", "snapshot", "seed"])
def test_job_names_inputs_and_outputs_are_openlineage_dbts(
    command: str, tmp_path: Path, lineage_validator: OpenLineageValidator
) -> None:
    output = _profile(tmp_path, "postgres", {})
    manifest = _manifest()
    theirs = dbt_ol_events(
        manifest, run_results(manifest, command), dbt_ol_profile(tmp_path, "floe")
    )
    ours = floe_events(manifest, output, tmp_path / "events.jsonl", command)
    seeds = [ol_dataset_name(n) for n in manifest["nodes"].values() if n["resource_type"] == "seed"]
    assert_same_lineage(theirs, ours, seeds, existing=relations(manifest))
    tested = assert_same_assertions(theirs, ours)
    assert tested == (3 if command in {"build", "test"} else 0), "orders, stg_orders, events"
    assert [error for event in ours for error in lineage_validator.errors(event)] == []
    if command in {"build", "run"}:
        assert any(".dbt_date.calendar" in e["job"]["name"] for e in theirs), "a package model"


# -- what goes into an event -----------------------------------------------------------------


def test_no_terminal_escape_sequence_reaches_an_event() -> None:
    coloured = "\x1b[31mERROR\x1b[0m creating \x1b]8;;https://x\x07link\x1b]8;;\x07 \x9b1mbold"
    assert strip_ansi(coloured) == "ERROR creating link bold"
    event = run_event(
        RunState.FAIL,
        run_id="01a22c9c-99cd-7623-b5c9-3d13b4aa486c",
        namespace="floe",
        job_name="dbt-run-\x1b[1mshop",
        event_time="2026-01-01T00:00:00Z",
        error=coloured,
        sql="select 1 -- \x1b[32mok\x1b[0m",
        assertions=[{"assertion": "not_null", "success": False, "name": "\x1b[33mwarned"}],
        inputs=[{"namespace": "duckdb://w.duckdb", "name": "w.main.orders", "facets": {}}],
    )
    text = Serde.to_json(event)
    assert "\\u001b" not in text and "\x1b" not in text and "\x9b" not in text
    data = json.loads(text)
    assert data["run"]["facets"]["errorMessage"]["message"] == "ERROR creating link bold"
    assert data["job"]["name"] == "dbt-run-shop"


def test_the_producer_is_the_repository_at_the_release_tag() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert f"{pyproject['project']['urls']['Source']}/tree/v{__version__}" == PRODUCER
