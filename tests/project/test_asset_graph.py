"""SC-003: the asset graph is dbt's DAG, exactly — on the starter project and at scale."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from floe_scaffold.project import init_project
from tests.manifests import synthetic_manifest, write_manifest

ASSET_TYPES = {"model", "seed", "snapshot"}


def expected_graph(manifest: dict[str, Any]) -> dict[str, set[str]]:
    """Asset name → upstream asset names, looking through ephemeral models (dbt's DAG)."""
    nodes = {**manifest["nodes"], **manifest["sources"]}

    def parents(unique_id: str) -> set[str]:
        found: set[str] = set()
        for upstream in manifest["parent_map"].get(unique_id, []):
            node = nodes[upstream]
            if node["resource_type"] == "source":
                found.add(f"{node['source_name']}/{node['name']}")
            elif node["config"].get("materialized") == "ephemeral":
                found |= parents(upstream)
            elif node["resource_type"] in ASSET_TYPES:
                found.add(node["name"])
        return found

    return {
        node["name"]: parents(unique_id)
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] in ASSET_TYPES
        and node["config"].get("materialized") != "ephemeral"
    }


def _resource_type(node: Any) -> str:
    unique_id = node.metadata.get("dbt/unique_id")
    return "" if unique_id is None else str(unique_id.value).split(".")[0]


def actual_graph(definitions: Any) -> dict[str, set[str]]:
    graph = definitions.resolve_asset_graph()
    return {
        key.to_user_string(): {parent.to_user_string() for parent in graph.get(key).parent_keys}
        for key in graph.get_all_asset_keys()
        if _resource_type(graph.get(key)) in ASSET_TYPES
    }


@pytest.mark.requirement("SC-003")
@pytest.mark.requirement("FR-007")
def test_the_starter_project_graph_is_the_dbt_dag(
    demo_project: Path, loaded_definitions: Callable[[Path, str], Any]
) -> None:
    definitions = loaded_definitions(demo_project, "jaffle")
    manifest = json.loads((demo_project / "dbt/target/manifest.json").read_text(encoding="utf-8"))
    expected = expected_graph(manifest)
    assert actual_graph(definitions) == expected
    assert expected["orders"] == {"stg_orders", "stg_payments"}, "through the ephemeral model"
    assert "int_order_payments" not in expected


@pytest.mark.requirement("FR-010")
def test_asset_metadata_comes_from_dbt_and_floe_meta(
    demo_project: Path, loaded_definitions: Callable[[Path, str], Any]
) -> None:
    graph = loaded_definitions(demo_project, "jaffle").resolve_asset_graph()
    from dagster import AssetKey

    customers = graph.get(AssetKey("customers"))
    assert customers.description is not None
    assert customers.description.startswith("One row per customer")
    assert customers.owners == ["team:analytics"]
    assert customers.group_name == "marts"
    assert customers.metadata["dbt/materialization"].value == "table"
    assert customers.metadata["floe/column_classifications"].value == {
        "email": {"classification": "pii", "pii_type": "email", "sensitivity": "high"}
    }
    assert "dagster/column_schema" in customers.metadata
    checks = {key.name for key in graph.asset_check_keys if key.asset_key == AssetKey("customers")}
    assert checks == {
        "unique_customers_customer_id",
        "not_null_customers_customer_id",
        "not_null_customers_lifetime_value",
    }


@pytest.mark.slow
@pytest.mark.requirement("SC-003")
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_500_model_random_dag_is_reproduced_exactly(
    tmp_path: Path, seed: int, loaded_definitions: Callable[[Path, str], Any]
) -> None:
    package = f"big{seed}"
    dest = tmp_path / package
    init_project(dest, git=False)
    manifest = synthetic_manifest(500, seed=seed)
    write_manifest(dest / "dbt", manifest)
    defs_yaml = dest / "src" / package / "defs/dbt_project/defs.yaml"
    config = yaml.safe_load(defs_yaml.read_text(encoding="utf-8"))
    config["attributes"]["prepare"] = "never"  # the synthetic manifest is the truth here
    defs_yaml.write_text(yaml.safe_dump(config), encoding="utf-8")
    expected = expected_graph(manifest)
    assert sum(1 for node in manifest["nodes"].values() if node["resource_type"] == "model") == 500
    assert actual_graph(loaded_definitions(dest, package)) == expected
