"""Real dbt projects with snapshots, dbt unit tests and tests on sources, adopted on day one.

* dbt-labs' ``dbt-audit-helper`` integration-test project on a real, empty PostgreSQL server
  (the only adapter its CI runs; on DuckDB its macros fail: ``count(distinct a, b)``): 27
  models, 24 seeds, data tests from ``dbt_utils`` and dbt unit tests (``unit_tests:``, dbt >=
  1.8), with the package itself as a ``local:`` package, run as its CI runs it: ``--exclude
  tag:skip+ tag:temporary_skip+`` (what does not run on PostgreSQL). Unit tests are no asset
  checks (as in dagster-dbt): dbt runs them in the same ``dbt build``, before their model.
* dagster-dbt's own test project ``test_dagster_dbt_snapshot``: a seed, a model and a snapshot
  (strategy ``check``, ``target_schema``), which is an asset like a model.
* dagster-dbt's ``test_dagster_dbt_source_relationships``: tests on two sources (a generic test
  on each, a ``relationships`` test between them, a singular test over both), the oracle for
  ``floe run --exclude``: it runs exactly the nodes plain ``dbt build --exclude`` runs.

As in ``test_real_corpus``: ``floe init --artifacts``, one ``floe run`` on an empty warehouse,
the generated project's own ``pytest`` and ``dg check defs``, and an asset graph equal to
``dagster-dbt project scaffold``'s but for floe's documented additions.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.helpers import REAL_DBT_DIR, build_contract
from tests.observability.column_coverage import (
    built_outputs,
    duckdb_columns,
    events_of,
    postgres_columns,
)
from tests.postgres import PostgresInfo, embedded_postgres
from tests.project.conftest import BIN, run_in
from tests.project.test_real_corpus import (
    Adopted,
    _assert_column_lineage,
    _assert_ran,
    _init,
    _local_packages,
    _manifest,
    _own_checks_pass,
    _vendor,
    _without_additions,
)
from tests.project.test_real_projects import _graph, scaffold_graph

pytestmark = pytest.mark.slow

#: dagster-dbt's test projects (Apache 2.0, see tests/fixtures/real-dbt/NOTICE.md).
DAGSTER_DBT_TESTS = REAL_DBT_DIR / "dagster_dbt_tests"
#: What audit-helper's own CI leaves out of its runs on PostgreSQL.
AUDIT_EXCLUDE = "tag:skip+ tag:temporary_skip+"


def _duckdb_contract(dbt_path: str, database: str) -> dict[str, Any]:
    return build_contract(
        compute={"target": "duckdb", "properties": {"path": database}},
        transforms=[{"type": "dbt", "path": dbt_path}],
    )


def _results(dbt_dir: Path) -> dict[str, str]:
    """Every node dbt reported on in this project so far (unique id: status), all targets."""
    found: dict[str, str] = {}
    for path in dbt_dir.glob("target/*/run_results.json"):
        for result in json.loads(path.read_text(encoding="utf-8"))["results"]:
            found[str(result["unique_id"])] = str(result["status"])
    return found


def _graph_is_the_scaffolds(adopted: Adopted, where: Path, name: str) -> dict[str, Any]:
    plain = scaffold_graph(adopted.dbt_dir, where, name, adopted.project / ".floe" / "profiles")
    ours = _graph(adopted.project / "src", f"{adopted.project.name}.definitions", adopted.env)
    assert _without_additions(ours) == plain
    return ours


# -- dbt-audit-helper: dbt unit tests ----------------------------------------------------------


@pytest.fixture(scope="module")
def audit_server() -> Iterator[PostgresInfo]:
    """A PostgreSQL server of its own, so the database starts empty."""
    with embedded_postgres(database="audit", user="floe_audit") as info:
        yield info


@pytest.fixture(scope="module")
def audit(tmp_path_factory: pytest.TempPathFactory, audit_server: PostgresInfo) -> Adopted:
    """dbt-audit-helper's integration tests adopted by ``floe init``, run once by ``floe run``
    as the package's CI runs them (``--exclude tag:skip+ tag:temporary_skip+``)."""
    root = tmp_path_factory.mktemp("audit")
    project = root / "audits"
    project.mkdir()
    _vendor(project, "dbt_audit_helper")
    _vendor(root, "dbt_utils")
    _local_packages(project / "dbt_audit_helper" / "packages.yml", "../../../dbt_utils")
    server = audit_server
    properties = {
        "host": server.host,
        "port": server.port,
        "database": server.database,
        "schema": "audit_helper_integration_tests_postgres",
    }
    _init(
        project,
        root,
        build_contract(
            compute={"target": "postgres", "properties": properties},
            transforms=[{"type": "dbt", "path": "./dbt_audit_helper/integration_tests"}],
        ),
    )
    env = {"FLOE_POSTGRES_USER": server.user, "FLOE_POSTGRES_PASSWORD": server.password}
    ran = run_in(project, str(BIN / "floe"), "run", "--exclude", AUDIT_EXCLUDE, env=env)
    return Adopted(project, project / "dbt_audit_helper" / "integration_tests", env, ran)


def test_audit_helper_unit_tests_run_within_the_dbt_step(audit: Adopted) -> None:
    rows = _assert_ran(audit)
    unit_tests = set(_manifest(audit)["unit_tests"])
    results = _results(audit.dbt_dir)
    ran = {uid: status for uid, status in results.items() if uid.startswith("unit_test.")}
    # dbt ran the unit tests (as `dbt build` does), each before its model, and all passed;
    # those of excluded models (tag:skip+) did not run.
    assert len(ran) >= 10 and set(ran.values()) == {"pass"}, results
    assert set(ran) < unit_tests
    assert "unit_compare_queries" in rows and "unit_test_model_a" in rows
    assert "unit_quick_are_queries_identical" not in rows  # tagged skip on PostgreSQL
    # A unit test is no asset and no row of the summary; its model is.
    assert not {uid.rsplit(".", 1)[-1] for uid in unit_tests} & set(rows)


def test_audit_helper_generated_projects_own_checks_pass(audit: Adopted) -> None:
    _assert_ran(audit)
    _own_checks_pass(audit, "3 passed, 1 skipped")  # materializing needs DuckDB


def test_audit_helper_column_lineage_covers_its_models_and_columns(
    audit: Adopted, audit_server: PostgresInfo
) -> None:
    _assert_ran(audit)
    with audit_server.connect(admin=True) as db, db.cursor() as cursor:
        warehouse = postgres_columns(cursor)
    found = _assert_column_lineage(audit, warehouse)
    assert found.models >= 20, str(found)


def test_audit_helper_graph_equals_dagster_dbt_scaffold(audit: Adopted, tmp_path: Path) -> None:
    _assert_ran(audit)
    ours = _graph_is_the_scaffolds(audit, tmp_path, "plain_audit")
    # No unit test became an asset check (dagster-dbt models data tests only).
    names = {uid.rsplit(".", 1)[-1] for uid in _manifest(audit)["unit_tests"]}
    assert not {check.rsplit(":", 1)[-1] for check in ours["checks"]} & names


# -- dagster-dbt's snapshot project ------------------------------------------------------------


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Adopted:
    """dagster-dbt's snapshot test project adopted by ``floe init``, run once by ``floe run``."""
    root = tmp_path_factory.mktemp("snapshot")
    project = root / "history"
    project.mkdir()
    shutil.copytree(
        DAGSTER_DBT_TESTS / "test_dagster_dbt_snapshot", project / "test_dagster_dbt_snapshot"
    )
    _init(project, root, _duckdb_contract("./test_dagster_dbt_snapshot", "history.duckdb"))
    ran = run_in(project, str(BIN / "floe"), "run")
    return Adopted(project, project / "test_dagster_dbt_snapshot", {}, ran)


def test_a_snapshot_materializes_as_an_asset_from_an_empty_warehouse(snapshot: Adopted) -> None:
    rows = _assert_ran(snapshot)
    assert {"raw_orders", "orders", "orders_snapshot"} <= set(rows)
    assert _results(snapshot.dbt_dir)["snapshot.test_dagster_dbt_snapshot.orders_snapshot"] == (
        "success"
    )
    with duckdb.connect(str(snapshot.dbt_dir / "history.duckdb"), read_only=True) as db:
        history = db.execute(
            "select count(*) from main.orders_snapshot where dbt_valid_to is null"
        ).fetchone()
    assert history == (3,)


def test_a_snapshots_column_lineage_reaches_the_seed_through_its_model(
    snapshot: Adopted,
) -> None:
    _assert_ran(snapshot)
    found = _assert_column_lineage(snapshot, duckdb_columns(snapshot.dbt_dir / "history.duckdb"))
    assert found.columns_traced == found.columns == 11, str(found)
    events = events_of(snapshot.project / ".floe" / "lineage" / "events.jsonl")
    outputs = built_outputs(events)

    def inputs(relation: str, column: str) -> list[tuple[str, str, str]]:
        field = outputs[relation]["facets"]["columnLineage"]["fields"][column]
        return [
            (one["name"], one["field"], one["transformations"][0]["subtype"])
            for one in field["inputFields"]
        ]

    # snapshot <- model <- seed, column by column (a `check` snapshot: its validity columns
    # are the snapshot's time, its scd id a hash of the unique key)
    assert inputs("history.main.orders_snapshot", "customer_id") == [
        ("history.main.orders", "customer_id", "IDENTITY")
    ]
    assert inputs("history.main.orders", "customer_id") == [
        ("history.main.raw_orders", "user_id", "IDENTITY")
    ]
    assert inputs("history.main.orders_snapshot", "dbt_scd_id") == [
        ("history.main.orders", "order_id", "TRANSFORMATION")
    ]
    assert inputs("history.main.orders_snapshot", "dbt_valid_from") == []


def test_snapshot_generated_projects_own_checks_pass(snapshot: Adopted) -> None:
    _assert_ran(snapshot)
    _own_checks_pass(snapshot, "4 passed")


def test_snapshot_graph_equals_dagster_dbt_scaffold(snapshot: Adopted, tmp_path: Path) -> None:
    _assert_ran(snapshot)
    ours = _graph_is_the_scaffolds(snapshot, tmp_path, "plain_snapshot")
    # The snapshot is an asset downstream of the model it snapshots.
    (snap,) = [key for key in ours["assets"] if key.split("/")[-1] == "orders_snapshot"]
    (orders,) = [key for key in ours["assets"] if key.split("/")[-1] == "orders"]
    assert ours["assets"][snap] == [orders]


# -- --exclude runs what dbt build --exclude runs ----------------------------------------------


def _dbt_build(dbt_dir: Path, profiles: Path, target_path: Path, *args: str) -> set[str]:
    """The unique ids plain ``dbt build`` runs (its run_results.json), in a target of its own."""
    done = subprocess.run(
        [
            str(BIN / "dbt"),
            "build",
            "--project-dir",
            str(dbt_dir),
            "--profiles-dir",
            str(profiles),
            "--target-path",
            str(target_path),
            *args,
        ],
        cwd=dbt_dir,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((target_path / "run_results.json").read_text(encoding="utf-8"))
    return {str(result["unique_id"]) for result in results["results"]}


def test_exclude_runs_the_nodes_dbt_build_exclude_runs_tests_on_sources_included(
    tmp_path: Path,
) -> None:
    root = tmp_path
    project = root / "sources"
    project.mkdir()
    name = "test_dagster_dbt_source_relationships"
    shutil.copytree(DAGSTER_DBT_TESTS / name, project / name)
    dbt_dir = project / name
    _init(project, root, _duckdb_contract(f"./{name}", "warehouse.duckdb"))
    # The tables the sources name, as the loader outside dbt would have written them.
    with duckdb.connect(str(dbt_dir / "warehouse.duckdb")) as db:
        db.execute("create table main.bar as select 1 as id")
        db.execute("create table main.foo as select 10 as id, 1 as bar_id")

    done = run_in(project, str(BIN / "floe"), "run", "--exclude", "stg_bar")
    assert done.returncode == 0, done.stdout + done.stderr
    ours = set(_results(dbt_dir))
    plain = _dbt_build(
        dbt_dir, project / ".floe" / "profiles", root / "plain_target", "--exclude", "stg_bar"
    )
    assert ours == plain
    # What the bug lost: the tests on the sources (no model of the run is their parent).
    tests_on_sources = {uid for uid in plain if uid.startswith("test.")}
    assert len(tests_on_sources) == 4, plain
    assert "model.test_dagster_dbt_source_relationships.stg_bar" not in ours
