"""Real dbt projects nobody here wrote, adopted on day one (issue 28): a corpus beyond jaffle_shop.

* Fivetran's ``dbt_zendesk`` integration-test project on a real, empty PostgreSQL server: every
  model lives in the package (``local: ../``), ephemeral models, incremental ``delete+insert``,
  seeds aliased and seeds disabled per adapter, sources whose identifiers are the seeds' tables
  (with freshness rules), ``+schema`` rendered from a var, an ``on-run-start`` hook, and the
  packages ``fivetran_utils``, ``spark_utils`` and ``dbt_utils`` vendored as ``local:`` packages
  (the dbt hub is unreachable here). Its keys depend on a var, so floe warns.
* dbt-labs' ``dbt-project-evaluator`` integration-test project on DuckDB: an exposure, a semantic
  model and metrics, model versions, enforced contracts, a local package inside the project,
  disabled tests and seeds, and 80 package models.

For each: ``floe init --artifacts``, a full ``floe run`` from an empty warehouse, the generated
project's own ``pytest`` and ``dg check defs``, and an asset graph equal to ``dagster-dbt project
scaffold``'s but for floe's documented additions (a ``source_freshness`` check per source with a
freshness rule); column lineage on >= 90 % of the models and of the columns the warehouse has,
the same on each materialization. Then the key-stability warning and ``translation.key`` on a
small project.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import REAL_DBT_DIR, build_contract, write_json
from tests.observability.column_coverage import (
    Coverage,
    assert_dagster_matches_facets,
    coverage,
    duckdb_columns,
    events_of,
    postgres_columns,
)
from tests.observability.dbt_ol_oracle import dbt_ol_events, dbt_ol_profile, terminal
from tests.observability.lineage_receiver import floe_lineage_validator
from tests.postgres import PostgresInfo, embedded_postgres
from tests.project.conftest import BIN, run_in
from tests.project.test_real_projects import _graph, scaffold_graph

pytestmark = pytest.mark.slow

#: The warning's first words (floe validate and floe run print it on stderr).
KEY_WARNING = "warning: asset keys depend on a var, an env var or the target"
#: Where zendesk's integration tests expect their seeds: the sources read this schema.
ZENDESK_SCHEMA = "zendesk_integration_tests"


@dataclass(frozen=True)
class Adopted:
    """A corpus project generated with ``floe init`` and its first ``floe run``."""

    project: Path
    dbt_dir: Path
    env: dict[str, str]
    run: subprocess.CompletedProcess[str]


def _vendor(root: Path, *names: str) -> None:
    for name in names:
        shutil.copytree(REAL_DBT_DIR / name, root / name)


def _local_packages(packages_yml: Path, *paths: str) -> None:
    """Declare ``paths`` as ``local:`` packages (relative to the root dbt project, as dbt
    resolves every local package, transitive ones included)."""
    lines = "".join(f"  - local: {path}\n" for path in paths)
    packages_yml.write_text(f"packages:\n{lines}", encoding="utf-8")


def _init(project: Path, root: Path, contract: dict[str, Any]) -> None:
    done = run_in(
        project, str(BIN / "floe"), "init", ".", "--artifacts", str(write_json(root, contract))
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "using the existing dbt project in" in done.stdout


def _run_table(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    table = done.stdout.split("\nrun ")[-1]
    return {line.split("│")[1].strip(): line for line in table.splitlines() if "│" in line}


@pytest.fixture(scope="module")
def zendesk_server() -> Iterator[PostgresInfo]:
    """A PostgreSQL server of its own, so the database starts empty."""
    with embedded_postgres(database="zendesk", user="floe_zendesk") as info:
        yield info


@pytest.fixture(scope="module")
def zendesk(tmp_path_factory: pytest.TempPathFactory, zendesk_server: PostgresInfo) -> Adopted:
    """dbt_zendesk's integration tests adopted by ``floe init`` and run once by ``floe run``."""
    root = tmp_path_factory.mktemp("zendesk")
    project = root / "support"
    project.mkdir()
    _vendor(project, "dbt_zendesk")
    _vendor(root, "fivetran_utils", "spark_utils", "dbt_utils")
    # The hub packages of the package and of fivetran_utils, as local ones beside the project.
    _local_packages(
        project / "dbt_zendesk" / "packages.yml", "../../../fivetran_utils", "../../../spark_utils"
    )
    _local_packages(root / "fivetran_utils" / "packages.yml", "../../../dbt_utils")
    server = zendesk_server
    properties = {
        "host": server.host,
        "port": server.port,
        "database": server.database,
        "schema": ZENDESK_SCHEMA,
    }
    _init(
        project,
        root,
        build_contract(
            compute={"target": "postgres", "properties": properties},
            transforms=[{"type": "dbt", "path": "./dbt_zendesk/integration_tests"}],
        ),
    )
    env = {"FLOE_POSTGRES_USER": server.user, "FLOE_POSTGRES_PASSWORD": server.password}
    with server.connect(admin=True) as db, db.cursor() as cursor:
        cursor.execute(
            "select count(*) from information_schema.tables where table_catalog = %s "
            "and table_schema not in ('pg_catalog', 'information_schema')",
            (server.database,),
        )
        assert cursor.fetchone() == (0,), "the warehouse starts empty"
    ran = run_in(project, str(BIN / "floe"), "run", env=env)
    return Adopted(project, project / "dbt_zendesk" / "integration_tests", env, ran)


@pytest.fixture(scope="module")
def evaluator(tmp_path_factory: pytest.TempPathFactory) -> Adopted:
    """dbt-project-evaluator's integration tests adopted by ``floe init``, run by ``floe run``."""
    root = tmp_path_factory.mktemp("evaluator")
    project = root / "quality"
    project.mkdir()
    _vendor(project, "dbt_project_evaluator")
    _vendor(root, "dbt_utils")
    _local_packages(project / "dbt_project_evaluator" / "packages.yml", "../../../dbt_utils")
    _init(
        project,
        root,
        build_contract(
            compute={"target": "duckdb", "properties": {"path": "data/evaluator.duckdb"}},
            transforms=[{"type": "dbt", "path": "./dbt_project_evaluator/integration_tests"}],
        ),
    )
    ran = run_in(project, str(BIN / "floe"), "run")
    return Adopted(project, project / "dbt_project_evaluator" / "integration_tests", {}, ran)


def _manifest(adopted: Adopted) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (adopted.dbt_dir / "target" / "manifest.json").read_text(encoding="utf-8")
    )
    return loaded


def _assert_ran(adopted: Adopted) -> dict[str, str]:
    done = adopted.run
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-6000:]
    rows = _run_table(done)
    assert rows and all("success" in row for row in rows.values()), done.stdout[-6000:]
    return rows


# -- zendesk on PostgreSQL -------------------------------------------------------------------


def test_zendesk_runs_end_to_end_on_an_empty_postgres_database(
    zendesk: Adopted, zendesk_server: PostgresInfo
) -> None:
    rows = _assert_ran(zendesk)
    manifest = _manifest(zendesk)
    assert "zendesk__ticket_metrics" in rows and "int_zendesk__field_history_pivot" in rows
    # The postgres twin of brand_data is the seed enabled here, aliased to brand_data.
    assert "brand_data_postgres" in rows and "brand_data" not in rows
    assert "seed.zendesk_integration_tests.user_data_snowflake" in manifest["disabled"]
    with zendesk_server.connect(admin=True) as db, db.cursor() as cursor:
        cursor.execute(
            "select count(*) from zendesk_integration_tests_zendesk_dev.zendesk__ticket_metrics"
        )
        (tickets,) = cursor.fetchone()
        cursor.execute("select count(*) from zendesk_integration_tests.brand_data")
        (brands,) = cursor.fetchone()
    assert tickets > 0 and brands > 0
    # The var-rendered schema is named before the run starts, with the fix.
    assert KEY_WARNING in zendesk.run.stderr
    assert "dbt_project.yml models.+schema" in zendesk.run.stderr
    assert "translation: {key: name}" in zendesk.run.stderr


def test_zendesk_generated_projects_own_checks_pass(zendesk: Adopted) -> None:
    _assert_ran(zendesk)
    _own_checks_pass(zendesk, "3 passed, 1 skipped")  # materializing needs DuckDB


def _own_checks_pass(adopted: Adopted, summary: str) -> None:
    """The generated project's own `pytest` (its summary line) and `dg check defs` pass."""
    tests = run_in(
        adopted.project,
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        env=adopted.env,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert summary in tests.stdout
    check = run_in(adopted.project, str(BIN / "dg"), "check", "defs", env=adopted.env)
    assert check.returncode == 0, check.stdout + check.stderr


def _without_additions(graph: dict[str, Any]) -> dict[str, Any]:
    """floe's graph less its documented additions: the ``source_freshness`` checks."""
    return {
        "assets": graph["assets"],
        "checks": [check for check in graph["checks"] if not check.endswith(":source_freshness")],
    }


def test_zendesk_graph_equals_dagster_dbt_scaffold(zendesk: Adopted, tmp_path: Path) -> None:
    _assert_ran(zendesk)
    plain = scaffold_graph(
        zendesk.dbt_dir, tmp_path, "plain_zendesk", zendesk.project / ".floe" / "profiles"
    )
    ours = _graph(zendesk.project / "src", f"{zendesk.project.name}.definitions", zendesk.env)
    assert _without_additions(ours) == plain
    # Keys are dagster-dbt's: the schema the var renders (zendesk_dev) in front of the model.
    assert "zendesk_dev/zendesk__ticket_metrics" in ours["assets"]
    fresh = {
        check.removesuffix(":source_freshness")
        for check in ours["checks"]
        if check.endswith(":source_freshness")
    }
    assert fresh == _judged_sources(_manifest(zendesk))


def _judged_sources(manifest: dict[str, Any]) -> set[str]:
    """The sources floe judges: a ``loaded_at_field`` and a ``warn_after`` or ``error_after``
    with a count (dbt 1.11 writes a freshness entry with null counts for every source)."""

    def setting(source: dict[str, Any], name: str) -> Any:
        value = (source.get("config") or {}).get(name)
        return value if value is not None else source.get(name)

    judged = set()
    for source in manifest["sources"].values():
        rule = setting(source, "freshness") or {}
        limits = [rule.get(limit) or {} for limit in ("warn_after", "error_after")]
        if setting(source, "loaded_at_field") and any(limit.get("count") for limit in limits):
            judged.add(f"{source['source_name']}/{source['name']}")
    assert judged, "the project has sources with a freshness rule"
    return judged


# -- dbt-project-evaluator on DuckDB ---------------------------------------------------------


def test_evaluator_runs_end_to_end_on_duckdb(evaluator: Adopted) -> None:
    rows = _assert_ran(evaluator)
    manifest = _manifest(evaluator)
    kinds = {node["resource_type"] for node in manifest["nodes"].values()}
    assert manifest["exposures"] and manifest["metrics"] and manifest["semantic_models"]
    assert {"model", "seed", "test"} <= kinds
    versioned = [node for node in manifest["nodes"].values() if node.get("version") is not None]
    enforced = [
        node
        for node in manifest["nodes"].values()
        if (node.get("config") or {}).get("contract", {}).get("enforced")
    ]
    assert versioned and enforced
    # No exposure, metric or semantic model became an asset.
    assert not {"exposure_1", "new_metric", "my_model"} & set(rows)
    # The package's models are assets, the project's own (all ephemeral) are looked through.
    assert "fct_model_naming_conventions" in rows
    assert KEY_WARNING not in evaluator.run.stderr


def test_evaluator_generated_projects_own_checks_pass(evaluator: Adopted) -> None:
    _assert_ran(evaluator)
    tests = run_in(
        evaluator.project, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "4 passed" in tests.stdout  # materializing included: DuckDB needs no server
    check = run_in(evaluator.project, str(BIN / "dg"), "check", "defs")
    assert check.returncode == 0, check.stdout + check.stderr


def test_evaluator_graph_equals_dagster_dbt_scaffold(evaluator: Adopted, tmp_path: Path) -> None:
    _assert_ran(evaluator)
    plain = scaffold_graph(
        evaluator.dbt_dir, tmp_path, "plain_evaluator", evaluator.project / ".floe" / "profiles"
    )
    ours = _graph(evaluator.project / "src", f"{evaluator.project.name}.definitions")
    assert _without_additions(ours) == plain


# -- asset keys that depend on a var, and pinning them ---------------------------------------


def _small_project(root: Path, schema: str | None) -> Path:
    """A generated project over a two-model dbt project, ``+schema`` set to ``schema``."""
    project = root / "keys"
    dbt_dir = project / "dbt"
    (dbt_dir / "models").mkdir(parents=True)
    config = {"name": "keys", "version": "1.0", "config-version": 2, "profile": "keys"}
    if schema is not None:
        config["models"] = {"keys": {"+schema": schema}}
    (dbt_dir / "dbt_project.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    (dbt_dir / "models" / "orders.sql").write_text("select 1 as id\n", encoding="utf-8")
    (dbt_dir / "models" / "order_totals.sql").write_text(
        "select id from {{ ref('orders') }}\n", encoding="utf-8"
    )
    _init(
        project,
        root,
        build_contract(compute={"target": "duckdb", "properties": {"path": "keys.duckdb"}}),
    )
    return project


def _validate(project: Path) -> subprocess.CompletedProcess[str]:
    done = run_in(project, str(BIN / "floe"), "validate", ".floe/compiled_artifacts.json")
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_a_var_rendered_schema_gets_the_key_warning_and_translation_pins_keys(
    tmp_path: Path,
) -> None:
    project = _small_project(tmp_path, "{{ var('s', 'sales') }}")
    warned = _validate(project)
    lines = [line for line in warned.stderr.splitlines() if line.startswith(KEY_WARNING)]
    assert len(lines) == 1, warned.stderr
    assert "dbt_project.yml models.keys.+schema" in lines[0]
    assert "translation: {key: name}" in lines[0]
    defs_yaml = next((project / "src").glob("*/defs/dbt_project/defs.yaml"))
    assert str(defs_yaml.relative_to(project)) in lines[0], "the file to edit is named"

    graph = _graph(project / "src", f"{project.name}.definitions")
    assert graph["assets"] == {"sales/orders": [], "sales/order_totals": ["sales/orders"]}
    # Once the manifest exists, the warning names the models whose keys move.
    assert "keys 2 nodes (order_totals, orders)" in _validate(project).stderr

    document = yaml.safe_load(defs_yaml.read_text(encoding="utf-8"))
    document["attributes"]["translation"] = {"key": "name"}
    defs_yaml.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    assert KEY_WARNING not in _validate(project).stderr
    pinned = _graph(project / "src", f"{project.name}.definitions")
    assert pinned["assets"] == {"orders": [], "order_totals": ["orders"]}
    tests = run_in(project, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider")
    assert tests.returncode == 0, tests.stdout + tests.stderr


def test_a_plain_project_gets_no_key_warning(tmp_path: Path) -> None:
    project = _small_project(tmp_path, "sales")  # a fixed schema: keys never move
    assert KEY_WARNING not in _validate(project).stderr
    assert _graph(project / "src", f"{project.name}.definitions")["assets"] == {
        "sales/orders": [],
        "sales/order_totals": ["sales/orders"],
    }


# -- column lineage --------------------------------------------------------------------------


def _assert_column_lineage(adopted: Adopted, warehouse: dict[str, list[str]]) -> Coverage:
    """>= 90 % of the models and of their columns have column lineage, in the events and on
    the materializations alike; every event valid against the OpenLineage schemas."""
    events = events_of(adopted.project / ".floe" / "lineage" / "events.jsonl")
    validator = floe_lineage_validator()
    invalid = [problem for event in events for problem in validator.errors(event)]
    assert invalid == [], invalid[:10]
    found = coverage(events, warehouse)
    assert found.model_share >= 0.9 and found.column_share >= 0.9, (
        f"{found}; untraced: {found.untraced[:40]}"
    )
    home = adopted.project / ".dagster_home"
    carried = assert_dagster_matches_facets(events, _manifest(adopted), home)
    assert carried >= 0.9 * found.models, (carried, str(found))
    return found


def test_zendesk_column_lineage_covers_its_models_and_columns(
    zendesk: Adopted, zendesk_server: PostgresInfo
) -> None:
    _assert_ran(zendesk)
    with zendesk_server.connect(admin=True) as db, db.cursor() as cursor:
        warehouse = postgres_columns(cursor)
    found = _assert_column_lineage(zendesk, warehouse)
    assert found.models >= 70 and found.columns_with_inputs >= 0.9 * found.columns, str(found)


@pytest.mark.requirement("FR-014")
def test_zendesk_output_statistics_are_dbt_ols_and_the_rows_postgres_holds(
    zendesk: Adopted, zendesk_server: PostgresInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each COMPLETE output's ``outputStatistics`` is what dbt-ol makes of the same run (its
    processor fed this run's manifest and ``run_results.json``), and for a table or seed, which
    is written whole, the rows PostgreSQL holds."""
    _assert_ran(zendesk)
    manifest = _manifest(zendesk)
    # One run_results.json per dbt invocation: the run is staged (sources over its seeds).
    invocations = [
        json.loads(path.read_text(encoding="utf-8"))
        for path in (zendesk.dbt_dir / "target").glob("*/run_results.json")
    ]
    results = {**invocations[0], "results": [r for i in invocations for r in i["results"]]}
    for name, value in zendesk.env.items():
        monkeypatch.setenv(name, value)
    profile = dbt_ol_profile(zendesk.project / ".floe" / "profiles", "integration_tests")
    theirs = terminal(dbt_ol_events(manifest, results, profile))
    ours = terminal(events_of(zendesk.project / ".floe" / "lineage" / "events.jsonl"))

    def rows(event: dict[str, Any]) -> list[int | None]:
        return [
            ((output.get("outputFacets") or {}).get("outputStatistics") or {}).get("rowCount")
            for output in event["outputs"]
        ]

    compared = [name for name in theirs if theirs[name]["outputs"]]
    assert len(compared) >= 70, "dbt-ol's model jobs"
    assert {name: rows(theirs[name]) for name in compared} == {
        name: rows(ours[name]) for name in compared
    }
    counts = [name for name in compared if any(r is not None for r in rows(theirs[name]))]
    assert len(counts) >= 30, "dbt-ol's jobs with a row count (tables and incremental models)"
    whole = {  # dataset name (database.schema.alias) -> relation, as dbt quotes it
        str(node["relation_name"]).replace('"', ""): str(node["relation_name"])
        for node in manifest["nodes"].values()
        if node["resource_type"] == "seed"
        or (node["resource_type"] == "model" and node["config"]["materialized"] == "table")
    }
    counted = 0
    with zendesk_server.connect(admin=True) as db, db.cursor() as cursor:
        for event in ours.values():
            for output, found in zip(event["outputs"], rows(event), strict=True):
                relation = whole.get(output["name"])
                if relation is None or found is None:
                    continue
                cursor.execute(f"select count(*) from {relation}")  # noqa: S608
                assert cursor.fetchone() == (found,), output["name"]
                counted += 1
    assert counted >= 50, "the seeds and tables with rows"


def test_evaluator_column_lineage_covers_its_models_and_columns(evaluator: Adopted) -> None:
    _assert_ran(evaluator)
    warehouse = duckdb_columns(evaluator.dbt_dir / "data" / "evaluator.duckdb")
    found = _assert_column_lineage(evaluator, warehouse)
    # Most of its graph models are typed literals (`cast(null as text) as name`, filled by
    # hooks): known to read no column.
    assert found.models >= 50 and found.columns_with_inputs >= 0.6 * found.columns, str(found)
