"""Column lineage in a real `floe run`: the same graph in OpenLineage and in Dagster (issue 30).

The demo run on DuckDB: each model's COMPLETE event carries a ``columnLineage`` facet, its
materialization ``dagster/column_lineage``, and both name the columns the warehouse has (the
columns Dagster's own ``dagster/column_schema`` observation lists), each input a column of an
asset upstream of it. ``column_lineage: false`` in ``defs.yaml`` turns both off.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from tests.observability.column_coverage import built_outputs, events_of
from tests.project.conftest import DEMO_ASSETS, copy_project, floe_run

pytestmark = [pytest.mark.slow, pytest.mark.requirement("FR-014")]

SEEDS = {"raw_customers", "raw_orders", "raw_payments"}


def _set_column_lineage(project: Path, value: bool) -> None:
    defs_yaml = project / "src" / project.name / "defs" / "dbt_project" / "defs.yaml"
    loaded = yaml.safe_load(defs_yaml.read_text(encoding="utf-8"))
    loaded["attributes"]["column_lineage"] = value
    defs_yaml.write_text(yaml.safe_dump(loaded, sort_keys=False), encoding="utf-8")


def _recorded(project: Path) -> dict[str, dict[str, Any]]:
    """Per asset: its materialization's metadata and its observation's column names."""
    found: dict[str, dict[str, Any]] = {}
    with dg.DagsterInstance.from_config(str(project / ".dagster_home")) as instance:
        for asset in DEMO_ASSETS:
            key = dg.AssetKey(asset)
            event = instance.get_latest_materialization_event(key)
            assert event is not None and event.asset_materialization is not None, asset
            records = instance.fetch_observations(key, limit=1, ascending=False).records
            observed = records[0].event_log_entry.asset_observation if records else None
            schema = observed.metadata.get("dagster/column_schema") if observed else None
            table = schema.value if schema is not None else None
            assert table is None or isinstance(table, dg.TableSchema), table
            found[asset] = {
                "metadata": event.asset_materialization.metadata,
                "columns": [c.name for c in table.columns] if table is not None else [],
            }
    return found


def test_each_model_has_its_column_lineage_in_openlineage_and_in_dagster(
    demo_project: Path, tmp_path: Path
) -> None:
    project = copy_project(demo_project, tmp_path)
    done = floe_run(project, {})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    recorded = _recorded(project)
    outputs = built_outputs(events_of(project / ".floe" / "lineage" / "events.jsonl"))
    models = DEMO_ASSETS - SEEDS
    upstream = _upstream(project)
    for asset in models:
        lineage = recorded[asset]["metadata"].get("dagster/column_lineage")
        assert lineage is not None, asset
        deps = lineage.value.deps_by_column
        # Every column the warehouse has, and only those.
        assert sorted(deps) == sorted(recorded[asset]["columns"]), asset
        for column, inputs in deps.items():
            for dep in inputs:
                parent = dep.asset_key.to_user_string()
                assert parent in upstream[asset], (asset, column, parent)
                assert dep.column_name in recorded[parent]["columns"], (asset, column, dep)
        (output,) = [o for name, o in outputs.items() if name.endswith(f".{asset}")]
        fields = output["facets"]["columnLineage"]["fields"]
        assert sorted(fields) == sorted(deps), asset
        for column, field in fields.items():
            assert sorted(i["field"] for i in field["inputFields"]) == sorted(
                d.column_name for d in deps[column]
            ), (asset, column)
    # The mart reads through the ephemeral model to the staging views, an aggregate.
    lifetime = recorded["customers"]["metadata"]["dagster/column_lineage"].value
    assert [
        (d.asset_key.to_user_string(), d.column_name)
        for d in lifetime.deps_by_column["lifetime_value"]
    ] == [("orders", "amount")]
    assert outputs_of(outputs, "customers")["lifetime_value"] == [
        ("orders", "amount", "AGGREGATION")
    ]
    for asset in SEEDS:  # read from a file: nothing to trace
        assert "dagster/column_lineage" not in recorded[asset]["metadata"], asset
    # A later run of the mart alone: its parents' columns are the ones the first run read.
    again = floe_run(project, {}, "--select", "customers")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    later = _recorded(project)["customers"]["metadata"]["dagster/column_lineage"].value
    assert dict(later.deps_by_column) == dict(lifetime.deps_by_column)
    assert len(later.deps_by_column) == len(recorded["customers"]["columns"])


def outputs_of(outputs: dict[str, Any], asset: str) -> dict[str, list[tuple[str, str, str]]]:
    (output,) = [o for name, o in outputs.items() if name.endswith(f".{asset}")]
    return {
        column: [
            (
                i["name"].rsplit(".", 1)[-1],
                i["field"],
                i["transformations"][0]["subtype"],
            )
            for i in field["inputFields"]
        ]
        for column, field in output["facets"]["columnLineage"]["fields"].items()
    }


def _upstream(project: Path) -> dict[str, set[str]]:
    """Each asset's transitive upstream assets, from the manifest dbt wrote."""
    manifest = json.loads((project / "dbt" / "target" / "manifest.json").read_text("utf-8"))
    nodes = {**manifest["nodes"], **manifest["sources"]}
    parents = manifest["parent_map"]

    def above(unique_id: str) -> set[str]:
        found: set[str] = set()
        for parent in parents.get(unique_id, []):
            found.add(str(nodes[parent]["name"]))
            found |= above(parent)
        return found

    return {str(n["name"]): above(uid) for uid, n in manifest["nodes"].items()}


def test_column_lineage_false_turns_it_off(demo_project: Path, tmp_path: Path) -> None:
    project = copy_project(demo_project, tmp_path)
    _set_column_lineage(project, False)
    done = floe_run(project, {})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    recorded = _recorded(project)
    assert not any("dagster/column_lineage" in r["metadata"] for r in recorded.values())
    outputs = built_outputs(events_of(project / ".floe" / "lineage" / "events.jsonl"))
    assert outputs and not any("columnLineage" in o["facets"] for o in outputs.values())
