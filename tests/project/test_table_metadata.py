"""Row counts and column types from the warehouse in asset metadata (``table_metadata``).

Real `floe run` on DuckDB; what was recorded is read back through the Dagster instance API.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from tests.project.conftest import BIN, quiet_env

pytestmark = pytest.mark.slow


def _run_with(demo: Path, tmp_path: Path, table_metadata: dict[str, bool]) -> dict[str, Any]:
    project = tmp_path / demo.name
    shutil.copytree(demo, project, ignore=shutil.ignore_patterns(".dagster_home", "*.duckdb"))
    defs_yaml = project / "src" / demo.name / "defs" / "dbt_project" / "defs.yaml"
    loaded = yaml.safe_load(defs_yaml.read_text(encoding="utf-8"))
    loaded["attributes"]["table_metadata"] = table_metadata
    defs_yaml.write_text(yaml.safe_dump(loaded, sort_keys=False), encoding="utf-8")
    env = quiet_env(PYTHONPATH=str(project / "src"))
    env.pop("DAGSTER_HOME", None)
    done = subprocess.run(
        [str(BIN / "floe"), "run"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with dg.DagsterInstance.from_config(str(project / ".dagster_home")) as instance:
        metadata = {}
        for asset in ("customers", "orders", "raw_orders", "stg_orders"):
            event = instance.get_latest_materialization_event(dg.AssetKey(asset))
            assert event is not None and event.asset_materialization is not None
            metadata[asset] = dict(event.asset_materialization.metadata)
    return metadata


def test_row_counts_and_column_types_come_from_the_warehouse(
    demo_project: Path, tmp_path: Path
) -> None:
    metadata = _run_with(demo_project, tmp_path, {"row_counts": True, "column_types": True})
    assert metadata["customers"]["dagster/row_count"].value == 5
    assert metadata["raw_orders"]["dagster/row_count"].value == 6
    assert "dagster/row_count" not in metadata["stg_orders"], "a view is not counted"
    columns = {
        column.name: column.type
        for column in metadata["customers"]["dagster/column_schema"].value.columns
    }
    assert columns["customer_id"].lower() in {"integer", "bigint", "int"}
    assert columns["lifetime_value"].lower().startswith(("double", "decimal", "numeric"))


def test_off_by_default_nothing_is_asked_of_the_warehouse(
    demo_project: Path, tmp_path: Path
) -> None:
    metadata = _run_with(demo_project, tmp_path, {})
    assert "dagster/row_count" not in metadata["customers"]
