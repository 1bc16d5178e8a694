"""Generated profiles driving real engines: ``dbt build`` against DuckDB and PostgreSQL.

The profile is written by the ``floe profiles`` command, a copy of ``tests/dbt_projects/tiny``
(a seed, a staging view, a table, and data tests) is built with the real ``dbt`` in a subprocess,
and the result is read back from the database itself. Credentials exist only in the dbt
subprocess's environment, never in a file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import psycopg2  # type: ignore[import-untyped]  # no stubs in the dev extras
import pytest

from tests.helpers import FloeRunner, build_contract, write_json

if TYPE_CHECKING:
    from tests.postgres import PostgresInfo
    from tests.profiles.conftest import DbtRunner

EXPECTED_TOTALS = [("alice", 2, 17), ("bob", 2, 28), ("carol", 1, 12)]
#: The tiny project: 1 seed, 2 models, 5 data tests.
EXPECTED_NODES = 8
PG_SECRET_REF = "pg-test-creds"
PG_USER_VAR = "PG_TEST_CREDS_USER"
PG_PASSWORD_VAR = "PG_TEST_CREDS_PASSWORD"


def _contract(tmp_path: Path, compute: dict[str, Any], **top: Any) -> Path:
    return write_json(tmp_path, build_contract(compute=compute, **top))


def _build(
    dbt: DbtRunner, project: Path, profiles_dir: Path, env: dict[str, str], cwd: Path
) -> tuple[int, str]:
    result = dbt(
        ["build", "--profiles-dir", profiles_dir, "--project-dir", project],
        env=env,
        cwd=cwd,
        timeout=300,
    )
    return result.returncode, result.stdout


def _assert_all_succeeded(project: Path) -> None:
    run_results = json.loads((project / "target" / "run_results.json").read_text("utf-8"))
    statuses = {result["unique_id"]: result["status"] for result in run_results["results"]}
    assert len(statuses) == EXPECTED_NODES, statuses
    assert set(statuses.values()) <= {"success", "pass"}, statuses


# -- DuckDB ------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.requirement("FR-001")
@pytest.mark.requirement("FR-004")
@pytest.mark.requirement("FR-005")
@pytest.mark.requirement("SC-007")
@pytest.mark.parametrize("destination", ["out", "dbt_profiles_path"])
def test_duckdb_build(
    destination: str, tmp_path: Path, tiny_project: Path, floe: FloeRunner, dbt: DbtRunner
) -> None:
    database = tmp_path / "warehouse.duckdb"
    properties = {"path": str(database), "schema": "analytics", "threads": 3}
    contract = _contract(
        tmp_path,
        {"target": "duckdb", "properties": properties},
        dbt_profiles_path="deploy/dbt-profiles",
    )
    if destination == "out":
        profiles_dir = tmp_path / "profiles"
        result = floe("profiles", contract, "--out", profiles_dir)
        assert not (tmp_path / "deploy").exists()
    else:
        profiles_dir = tmp_path / "deploy" / "dbt-profiles"
        result = floe("profiles", contract, "--project-dir", tmp_path)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == str(profiles_dir / "profiles.yml")

    code, output = _build(dbt, tiny_project, profiles_dir, {}, tmp_path)

    assert code == 0, output
    assert "Concurrency: 3 threads (target='dev')" in output
    _assert_all_succeeded(tiny_project)
    with duckdb.connect(str(database), read_only=True) as connection:
        rows = connection.execute(
            "select customer, order_count, total_amount "
            "from analytics.customer_totals order by customer"
        ).fetchall()
        kinds = dict(
            connection.execute(
                "select table_name, table_type from information_schema.tables "
                "where table_schema = 'analytics'"
            ).fetchall()
        )
    assert rows == EXPECTED_TOTALS
    assert kinds == {
        "raw_orders": "BASE TABLE",
        "stg_orders": "VIEW",
        "customer_totals": "BASE TABLE",
    }


# -- where the CLI writes profiles.yml (FR-005), without running dbt ---------------------------


@pytest.mark.requirement("FR-005")
def test_profiles_default_to_dbt_profiles_path_in_project_dir(
    tmp_path: Path, floe: FloeRunner
) -> None:
    contract = _contract(tmp_path, {"target": "duckdb"})
    project = tmp_path / "project"

    result = floe("profiles", contract, "--project-dir", project)

    assert result.exit_code == 0, result.stderr
    written = project / ".floe" / "profiles" / "profiles.yml"
    assert result.stdout.splitlines()[0] == str(written)
    assert written.is_file()
    assert "type: duckdb" in written.read_text(encoding="utf-8")


@pytest.mark.requirement("FR-005")
def test_out_takes_precedence_over_dbt_profiles_path(tmp_path: Path, floe: FloeRunner) -> None:
    contract = _contract(tmp_path, {"target": "duckdb"}, dbt_profiles_path="config/profiles")
    project = tmp_path / "project"
    out = tmp_path / "elsewhere"

    result = floe("profiles", contract, "--project-dir", project, "--out", out)

    assert result.exit_code == 0, result.stderr
    assert (out / "profiles.yml").is_file()
    assert not project.exists()


# -- PostgreSQL --------------------------------------------------------------------------------


def _postgres_contract(tmp_path: Path, server: PostgresInfo) -> Path:
    return _contract(
        tmp_path,
        {
            "target": "postgres",
            "connection_secret_ref": PG_SECRET_REF,
            "properties": {
                "host": server.host,
                "port": server.port,
                "database": server.database,
                "schema": "analytics",
                "threads": 2,
            },
        },
        dbt_profiles_path="deploy/profiles",
    )


@pytest.mark.slow
@pytest.mark.requirement("FR-003")
def test_postgres_server_demands_the_password(postgres_server: PostgresInfo) -> None:
    # The build below only proves the credentials reached dbt if a wrong password is refused.
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        postgres_server.connect(password="not-the-password")
    connection = postgres_server.connect()
    connection.close()


@pytest.mark.slow
@pytest.mark.requirement("FR-001")
@pytest.mark.requirement("FR-003")
@pytest.mark.requirement("FR-005")
@pytest.mark.requirement("SC-007")
def test_postgres_build_with_credentials_from_environment(
    postgres_server: PostgresInfo,
    tmp_path: Path,
    tiny_project: Path,
    floe: FloeRunner,
    dbt: DbtRunner,
) -> None:
    contract = _postgres_contract(tmp_path, postgres_server)

    result = floe("profiles", contract, "--project-dir", tmp_path)

    assert result.exit_code == 0, result.stderr
    profiles_dir = tmp_path / "deploy" / "profiles"
    assert result.stdout.splitlines()[0] == str(profiles_dir / "profiles.yml")
    assert f"set before running dbt: {PG_PASSWORD_VAR}, {PG_USER_VAR}" in result.stdout
    text = (profiles_dir / "profiles.yml").read_text(encoding="utf-8")
    assert f"password: \"{{{{ env_var('{PG_PASSWORD_VAR}') }}}}\"" in text
    assert f"user: \"{{{{ env_var('{PG_USER_VAR}') }}}}\"" in text

    code, output = _build(
        dbt,
        tiny_project,
        profiles_dir,
        {PG_USER_VAR: postgres_server.user, PG_PASSWORD_VAR: postgres_server.password},
        tmp_path,
    )

    assert code == 0, output
    assert postgres_server.password not in output
    _assert_all_succeeded(tiny_project)
    connection = postgres_server.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "select customer, order_count, total_amount "
                "from analytics.customer_totals order by customer"
            )
            rows = cursor.fetchall()
            cursor.execute(
                "select table_name, table_type from information_schema.tables "
                "where table_schema = 'analytics'"
            )
            kinds = dict(cursor.fetchall())
    finally:
        connection.close()
    assert [(customer, count, int(total)) for customer, count, total in rows] == EXPECTED_TOTALS
    assert kinds == {
        "raw_orders": "BASE TABLE",
        "stg_orders": "VIEW",
        "customer_totals": "BASE TABLE",
    }

    # The password lives only in the dbt process's environment: no file written for this test
    # (profiles.yml, dbt's target/ and logs/) contains it.
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert tiny_project / "logs" / "dbt.log" in files
    assert tiny_project / "target" / "manifest.json" in files
    secret = postgres_server.password.encode()
    leaked = [str(path) for path in files if secret in path.read_bytes()]
    assert leaked == []


@pytest.mark.slow
@pytest.mark.requirement("FR-003")
def test_postgres_build_fails_with_a_wrong_password(
    postgres_server: PostgresInfo,
    tmp_path: Path,
    tiny_project: Path,
    floe: FloeRunner,
    dbt: DbtRunner,
) -> None:
    contract = _postgres_contract(tmp_path, postgres_server)
    assert floe("profiles", contract, "--project-dir", tmp_path).exit_code == 0

    code, output = _build(
        dbt,
        tiny_project,
        tmp_path / "deploy" / "profiles",
        {PG_USER_VAR: postgres_server.user, PG_PASSWORD_VAR: "not-the-password"},
        tmp_path,
    )

    assert code != 0, output
    assert "password authentication failed" in output
