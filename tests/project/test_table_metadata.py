"""Row counts and column types from the warehouse, as an observation after dbt (``table_metadata``).

Real `floe run` on DuckDB (the demo) and on a real PostgreSQL server; what was recorded is read
back through the Dagster instance API. The batched queries are also run against a real DuckDB
with more relations than one query takes, and the round's budget against a view whose count
never ends.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
import yaml

from floe_scaffold.components._metadata_round import MetadataRound
from floe_scaffold.components._table_metadata import (
    TableMetadataSettings,
    TableMetadataSource,
    _AdapterLoader,
    _ask,
    _Relation,
    _release,
    load_adapter,
)
from tests.helpers import count_queries
from tests.postgres import PostgresInfo
from tests.profiles.conftest import postgres_server
from tests.project.conftest import (
    BIN,
    DEMO_ASSETS,
    duckdb_dbt_project,
    postgres_demo,
    quiet_env,
    summary_row_counts,
)

pytestmark = pytest.mark.slow
__all__ = ["postgres_server"]  # the session fixture, shared with tests/profiles

#: A loaded machine's scheduling stalls, allowed on top of a bound that is timed.
SCHEDULING_SLACK = 5.0
#: The demo's views (staging); every other asset is a table or a seed.
VIEWS = {"stg_customers", "stg_orders", "stg_payments"}


def _floe_run(project: Path, env: dict[str, str] | None = None) -> str:
    run_env = quiet_env(PYTHONPATH=str(project / "src"), **(env or {}))
    run_env.pop("DAGSTER_HOME", None)
    done = subprocess.run(
        [str(BIN / "floe"), "run"],
        cwd=project,
        env=run_env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def _copy(demo: Path, tmp_path: Path, table_metadata: dict[str, bool] | None) -> Path:
    project = tmp_path / demo.name
    shutil.copytree(demo, project, ignore=shutil.ignore_patterns(".dagster_home", "*.duckdb"))
    if table_metadata is not None:
        defs_yaml = project / "src" / demo.name / "defs" / "dbt_project" / "defs.yaml"
        loaded = yaml.safe_load(defs_yaml.read_text(encoding="utf-8"))
        loaded["attributes"]["table_metadata"] = table_metadata
        defs_yaml.write_text(yaml.safe_dump(loaded, sort_keys=False), encoding="utf-8")
    return project


def _recorded(project: Path, assets: set[str] | frozenset[str]) -> dict[str, dict[str, Any]]:
    """The metadata of each asset's latest observation (it follows the materialization)."""
    with dg.DagsterInstance.from_config(str(project / ".dagster_home")) as instance:
        metadata = {}
        for asset in assets:
            key = dg.AssetKey(asset)
            materialized = instance.get_latest_materialization_event(key)
            assert materialized is not None, asset
            assert materialized.asset_materialization is not None, asset
            records = instance.fetch_observations(key, limit=1, ascending=False).records
            observed = records[0].event_log_entry.asset_observation if records else None
            metadata[asset] = dict(observed.metadata) if observed is not None else {}
            assert "dagster/row_count" not in materialized.asset_materialization.metadata, (
                "the count follows as an observation; the materialization is not held for it"
            )
    return metadata


def _types(metadata: dict[str, Any]) -> dict[str, str]:
    schema = metadata.get("dagster/column_schema")
    return {} if schema is None else {c.name: c.type for c in schema.value.columns}


def test_on_by_default_every_asset_has_column_types_and_a_row_count(
    demo_project: Path, tmp_path: Path
) -> None:
    defs_yaml = (demo_project / "src" / demo_project.name / "defs/dbt_project/defs.yaml").read_text(
        encoding="utf-8"
    )
    assert "table_metadata" not in defs_yaml, "the default, not a setting, turns it on"
    project = _copy(demo_project, tmp_path, None)
    stdout = _floe_run(project)
    metadata = _recorded(project, DEMO_ASSETS)
    for asset in DEMO_ASSETS:
        counted = "dagster/row_count" in metadata[asset]
        assert counted == (asset not in VIEWS), (asset, "tables and seeds are counted, views not")
        types = _types(metadata[asset])
        assert types and all(t and t != "?" for t in types.values()), (asset, types)
    assert metadata["customers"]["dagster/row_count"].value == 5
    assert metadata["raw_orders"]["dagster/row_count"].value == 6
    types = _types(metadata["customers"])
    assert list(types)[:2] == ["customer_id", "first_name"], "in the table's column order"
    assert types["customer_id"] == "INTEGER"
    assert types["lifetime_value"] in {"DOUBLE", "DECIMAL(18,3)"}
    table = summary_row_counts(stdout)
    assert set(table) == DEMO_ASSETS
    assert table["customers"] == "5", "the summary table shows the warehouse's count"
    assert table["stg_orders"] == "", "a view is not counted"


def test_switched_in_defs_yaml(demo_project: Path, tmp_path: Path) -> None:
    project = _copy(demo_project, tmp_path, {"column_types": False, "count_views": True})
    stdout = _floe_run(project)
    metadata = _recorded(project, DEMO_ASSETS)
    for asset in DEMO_ASSETS:
        assert "dagster/column_schema" not in metadata[asset], "no type from the warehouse"
        assert metadata[asset]["dagster/row_count"].value > 0, asset
    assert metadata["stg_payments"]["dagster/row_count"].value == 7, "views counted on request"
    assert summary_row_counts(stdout)["stg_orders"] == "6"


def test_postgres_gives_row_counts_and_column_types(
    postgres_server: PostgresInfo, tmp_path: Path
) -> None:
    project, env = postgres_demo(postgres_server, tmp_path, "table_metadata")
    stdout = _floe_run(project, env)
    metadata = _recorded(project, DEMO_ASSETS)
    reported = _reported_by_dbt(project)
    for asset in DEMO_ASSETS - VIEWS:
        rows = metadata[asset]["dagster/row_count"].value
        assert rows > 0, asset
        if asset != "daily_orders":  # an incremental model reports this run's rows: counted
            assert reported[asset] == rows, "the count dbt reported for a table or seed"
    for asset in DEMO_ASSETS:
        assert _types(metadata[asset]), asset
    types = _types(metadata["customers"])
    assert types["customer_id"] == "integer"
    assert types["first_name"] in {"text", "character varying"}
    assert metadata["orders"]["dagster/row_count"].value == 6
    assert summary_row_counts(stdout)["orders"] == "6"


def _reported_by_dbt(project: Path) -> dict[str, int]:
    """``adapter_response.rows_affected`` of each node of the project's one run, by name."""
    (results,) = project.glob("dbt/target/*-*-*/run_results.json")
    return {
        entry["unique_id"].split(".")[-1]: entry["adapter_response"]["rows_affected"]
        for entry in json.loads(results.read_text(encoding="utf-8"))["results"]
        if isinstance(entry["adapter_response"].get("rows_affected"), int)
    }


def test_a_count_dbt_reported_is_not_asked_again(tmp_path: Path) -> None:
    """A table whose row count dbt reported gets that count with no query: a relation that does
    not exist (a query would fail and warn) still gets it, and nothing is logged."""
    project = duckdb_dbt_project(tmp_path, "told")
    with duckdb.connect(str(project / "w.db")) as connection:
        connection.execute("create table present as select 1 as id")
    told = _Relation("model.told.gone", '"w"."main"."gone"', "w", "main", "gone", False, 42)
    asked = _Relation("model.told.present", '"w"."main"."present"', "w", "main", "present", False)
    adapter = load_adapter(TableMetadataSource(project, project, None, None))
    try:
        found = _ask(adapter, [told, asked], TableMetadataSettings(column_types=False))
    finally:
        _release(adapter)
    assert found["model.told.gone"]["dagster/row_count"].value == 42
    assert found["model.told.present"]["dagster/row_count"].value == 1


def test_a_round_past_its_budget_keeps_what_it_had_and_says_how_to_get_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A count that would never end (a view over a 10^12-row cross join) is cancelled at the
    budget: the column types asked first are kept, one warning names the setting, and the
    DuckDB file is free again for the next dbt."""
    project = duckdb_dbt_project(tmp_path, "slow")
    with duckdb.connect(str(project / "w.db")) as connection:
        connection.execute("create table small as select range as id from range(3)")
        connection.execute(
            "create view endless as select a.range as id from range(1000000) as a, "
            "range(1000000) as b"
        )
    relations = [
        _Relation("model.slow.small", '"w"."main"."small"', "w", "main", "small", False),
        _Relation("model.slow.endless", '"w"."main"."endless"', "w", "main", "endless", True),
    ]
    loader = _AdapterLoader(TableMetadataSource(project, project, None, None))
    loader.start()
    assert loader.result() is not None, "the adapter loaded (not part of the budget here)"
    settings = TableMetadataSettings(count_views=True)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        found = MetadataRound(loader, relations, settings).answers(budget=2.0)
    took = time.monotonic() - started
    assert took < 2.0 + 2.0 + SCHEDULING_SLACK, "cancelled at the budget, not left running"
    for relation in relations:
        assert "dagster/column_schema" in found[relation.unique_id], relation
        assert "dagster/row_count" not in found[relation.unique_id], "the count was cancelled"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "left out for 2 of 2 relations" in warnings[0]
    assert "budget_seconds" in warnings[0] and "count_views: false" in warnings[0]
    with duckdb.connect(str(project / "w.db")) as again:  # read-write: dbt's next run can open it
        again.execute("create table after_round as select 1 as one")


def test_many_relations_are_asked_in_batches(tmp_path: Path) -> None:
    """450 tables and views: columns and counts in chunked queries, matched back by name, once
    the process that still locks the file has exited; then the file is free for the next dbt."""
    project = duckdb_dbt_project(tmp_path, "many")
    relations = []
    with duckdb.connect(str(project / "w.db")) as connection:
        for index in range(450):
            name = f"T_{index}" if index % 3 else f"it's_{index}"  # odd names are quoted
            kind = "view" if index % 5 == 0 else "table"
            connection.execute(
                f'create {kind} "{name}" as select range as id, range * 1.5 as amount '  # noqa: S608
                f"from range({index % 7})"
            )
            relations.append(
                _Relation(
                    f"model.many.{index}", f'"w"."main"."{name}"', "w", "main", name, kind == "view"
                )
            )
    adapter = load_adapter(TableMetadataSource(project, project, None, None))
    # Another process (dbt, exiting) still holds the file for a second: the queries wait for it.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time\n"
            f"connection = duckdb.connect({str(project / 'w.db')!r})\n"
            "print('held', flush=True)\n"
            "time.sleep(1)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    queries = count_queries(adapter)
    found = _ask(adapter, relations, TableMetadataSettings(count_views=False))
    columns = [sql for sql in queries if "information_schema.columns" in sql]
    counts = [sql.count("count(*)") for sql in queries if "count(*)" in sql]
    assert len(columns) == 1, "one columns query for 450 relations"
    assert counts == [50] * 7 + [10], "the 360 tables counted 50 per query; no view counted"
    others = {sql for sql in queries if "count(*)" not in sql and sql not in columns}
    assert others <= {"select 1"}, "nothing else but the probes that wait for the file lock"
    assert holder.wait(timeout=30) == 0
    holder.stdout.close()
    _release(adapter)
    with duckdb.connect(str(project / "w.db")) as again:  # read-write: dbt's next run can open it
        again.execute("create table after_release as select 1 as one")
    for index, relation in enumerate(relations):
        got = found[relation.unique_id]
        schema = got["dagster/column_schema"].value
        assert [(c.name, c.type) for c in schema.columns] == [
            ("id", "BIGINT"),
            ("amount", "DECIMAL(21,1)"),
        ], relation
        if relation.view:
            assert "dagster/row_count" not in got
        else:
            assert got["dagster/row_count"].value == index % 7


def test_the_budget_is_a_share_of_dbts_time_with_a_floor_or_as_set() -> None:
    default = TableMetadataSettings()
    assert default.count_views is False, "a view's count runs its query: off unless asked"
    assert default.budget(5.0) == 10.0, "at least 10 s"
    assert default.budget(200.0) == 40.0, "20 % of dbt's own time"
    assert TableMetadataSettings(budget_seconds=3).budget(200.0) == 3
    for wrong in (0, -1, 3601):
        with pytest.raises(ValueError, match="out of range"):
            TableMetadataSettings(budget_seconds=wrong)
