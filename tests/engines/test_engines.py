"""The generated project on three real engines — DuckDB, PostgreSQL, a local Spark session —
through one parametrized path, and on the four warehouses that cannot be reached from here."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from floe_scaffold.project import init_project
from tests.helpers import GOLDEN_DIR, build_contract, contract_for, write_json
from tests.observability.lineage_receiver import LineageReceiver
from tests.postgres import PostgresInfo
from tests.project.conftest import BIN, DEMO_ASSETS, quiet_env, run_in, summary_row_counts

pytestmark = pytest.mark.slow

ASSETS = DEMO_ASSETS
MODELS = {asset for asset in ASSETS if not asset.startswith("raw_")}


@dataclass(frozen=True)
class Engine:
    """A contract for one engine, the environment its run needs, and its dataset namespace."""

    contract: dict[str, Any]
    namespace: str
    env: dict[str, str] = field(default_factory=dict)


def _duckdb(_tmp: Path) -> Engine:
    contract = build_contract(compute={"target": "duckdb", "properties": {"path": "w.duckdb"}})
    return Engine(contract, namespace="duckdb://")


def _postgres(server: PostgresInfo) -> Engine:
    contract = json.loads((GOLDEN_DIR / "docker_integration.json").read_text(encoding="utf-8"))
    contract["compute"]["properties"].update(
        {"host": server.host, "port": server.port, "database": server.database}
    )
    contract["observability"].update({"otlp_endpoint": None, "lineage_endpoint": None})
    env = {"FLOE_POSTGRES_USER": server.user, "FLOE_POSTGRES_PASSWORD": server.password}
    return Engine(contract, f"postgres://{server.host}:{server.port}", env)


def _postgres_own(server: PostgresInfo) -> Engine:
    """A contract of our own: a secret ref, so the variables are PG_IT_USER / PG_IT_PASSWORD."""
    contract = contract_for(
        "postgres",
        connection_secret_ref="pg-it",
        properties={
            "host": server.host,
            "port": server.port,
            "database": server.database,
            "schema": "analytics",
            "threads": 2,
        },
    )
    env = {"PG_IT_USER": server.user, "PG_IT_PASSWORD": server.password}
    return Engine(contract, f"postgres://{server.host}:{server.port}", env)


def _spark(tmp: Path) -> Engine:
    contract = build_contract(
        compute={
            "target": "spark",
            "properties": {"method": "session", "schema": "floe_it", "threads": 1},
        }
    )
    # A local session keeps its metastore and warehouse in the working directory.
    return Engine(contract, "spark://localhost", {"SPARK_LOCAL_DIRS": str(tmp)})


@pytest.fixture(params=["duckdb", "postgres", "postgres-own-contract", "spark"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "postgres":
        yield _postgres(request.getfixturevalue("postgres_server"))
    elif request.param == "postgres-own-contract":
        yield _postgres_own(request.getfixturevalue("postgres_server"))
    elif request.param == "spark":
        yield _spark(tmp_path)
    else:
        yield _duckdb(tmp_path)


@pytest.mark.requirement("FR-002")
@pytest.mark.requirement("FR-006")
def test_the_generated_project_materializes_on_the_engine(
    engine: Engine, tmp_path: Path, lineage_receiver: LineageReceiver
) -> None:
    dest = tmp_path / "shop"
    init_project(dest, artifacts=write_json(tmp_path, engine.contract), git=False)
    # What is proved here is that every model's lineage arrives, not the endpoint timeout (the
    # observability tests prove it): with the default 2 s, a loaded CI machine running Spark
    # beside the receiver once answered late, the breaker opened and the last models' events
    # were dropped, as designed.
    defs_yaml = next(dest.glob("src/*/defs/dbt_project/defs.yaml"))
    loaded = yaml.safe_load(defs_yaml.read_text(encoding="utf-8"))
    loaded["attributes"]["lineage"] = {"timeout": 30}
    defs_yaml.write_text(yaml.safe_dump(loaded, sort_keys=False), encoding="utf-8")
    env = {**engine.env, "OPENLINEAGE_URL": lineage_receiver.url, "OTEL_SDK_DISABLED": "true"}
    done = run_in(dest, str(BIN / "floe"), "run", env=env)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "OpenLineage endpoint" not in done.stderr, done.stderr[-4000:]
    table = done.stdout.split("run ")[-1]
    for asset in ASSETS:
        assert asset in table
    assert table.count("success") == len(ASSETS)
    assert lineage_receiver.invalid == []
    # Lineage arrived for every model (seeds are datasets too, but dbt-ol names no seed job),
    # each output in the engine's namespace.
    completed = [event for event in lineage_receiver.events if event["eventType"] == "COMPLETE"]
    outputs = [output for event in completed for output in event.get("outputs", [])]
    assert {output["name"].rsplit(".", 1)[-1] for output in outputs} >= MODELS
    assert all(output["namespace"].startswith(engine.namespace) for output in outputs), outputs
    # The source's freshness was asked of the engine: the starter's orders end in 2024 (WARN).
    freshness = _freshness(dest)
    assert "age_seconds" in freshness.metadata, freshness.metadata
    assert not freshness.passed and freshness.severity.value == "WARN"
    # A second run on a local Spark session costs minutes; DuckDB and PostgreSQL show it.
    if not engine.namespace.startswith("spark"):
        _second_run_is_incremental(dest, env, done.stdout)
    secret = engine.env.get("FLOE_POSTGRES_PASSWORD") or engine.env.get("PG_IT_PASSWORD")
    if secret:
        for path in dest.rglob("*"):
            if path.is_file() and path.suffix in {".yml", ".json", ".jsonl", ".log", ".sql"}:
                assert secret not in path.read_text(encoding="utf-8", errors="replace"), path


def _second_run_is_incremental(project: Path, env: dict[str, str], first_stdout: str) -> None:
    """Run again: the incremental model takes its incremental path (no new day: no new row)."""
    first = _compiled(project, "daily_orders")
    assert first and all("where order_date >" not in sql for sql in first.values()), "full build"
    again = run_in(project, str(BIN / "floe"), "run", env=env)
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
    second = {
        path: sql for path, sql in _compiled(project, "daily_orders").items() if path not in first
    }
    assert second and all("where order_date >" in sql for sql in second.values()), "incremental"
    first_rows, second_rows = summary_row_counts(first_stdout), summary_row_counts(again.stdout)
    assert first_rows["daily_orders"] == second_rows["daily_orders"] != "0"


def _freshness(project: Path) -> Any:
    """The latest evaluation of the source's freshness check, from the project's instance."""
    import dagster as dg
    from dagster._core.events import DagsterEventType

    with dg.DagsterInstance.from_config(str(project / ".dagster_home")) as instance:
        (run,) = instance.get_runs()
        records = instance.get_records_for_run(
            run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
        ).records
    evaluations: list[Any] = [
        record.event_log_entry.get_dagster_event().event_specific_data for record in records
    ]
    (found,) = [e for e in evaluations if e.check_name == "source_freshness"]
    return found


def _compiled(project: Path, model: str) -> dict[Path, str]:
    """The model's SQL as each dbt invocation compiled it (dagster-dbt gives each its folder)."""
    return {
        path: path.read_text(encoding="utf-8")
        for path in (project / "dbt/target").rglob(f"{model}.sql")
        if "compiled" in path.parts
    }


@pytest.mark.requirement("FR-002")
@pytest.mark.parametrize("target", ["snowflake", "bigquery", "redshift", "databricks"])
def test_unreachable_warehouses_load_and_parse_with_the_real_adapter(
    tmp_path: Path, target: str
) -> None:
    dest = tmp_path / "wh"
    init_project(dest, artifacts=write_json(tmp_path, contract_for(target)), git=False)
    profile = (dest / ".floe/profiles/profiles.yml").read_text(encoding="utf-8")
    needed = [line.split()[2] for line in profile.splitlines() if line.startswith("# needs ")]
    env = {name: f"dummy-{name.lower()}" for name in needed}
    done = run_in(dest, str(BIN / "dg"), "check", "defs", env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (dest / "dbt/target/manifest.json").is_file(), "dbt parse ran with the real adapter"


def test_a_thrift_contract_runs_locally_with_a_session_override(tmp_path: Path) -> None:
    """A contract for a Spark Thrift server; development switches to a local session."""
    contract = contract_for("spark")  # method thrift, host spark.internal
    dest = tmp_path / "spark"
    init_project(dest, artifacts=write_json(tmp_path, contract), git=False)
    local = build_contract(
        compute={"target": "spark", "properties": {"method": "session", "schema": "analytics"}}
    )
    done = subprocess.run(
        [
            str(BIN / "floe"),
            "profiles",
            str(dest / ".floe/compiled_artifacts.json"),
            "--env",
            f"local={write_json(tmp_path, local, 'local.json')}",
            "--env",
            "dev",
            "--out",
            str(dest / ".floe/profiles"),
        ],
        env=quiet_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    profile = (dest / ".floe/profiles/profiles.yml").read_text(encoding="utf-8")
    assert "method: session" in profile
    assert "method: thrift" in profile
