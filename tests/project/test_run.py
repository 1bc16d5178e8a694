"""Running a generated project for real on DuckDB: floe run, dagster, dg, its own tests."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from floe_scaffold.project import init_project
from tests.helpers import build_contract, write_json
from tests.project.conftest import BIN, copy_project, quiet_env, run_in

pytestmark = pytest.mark.slow


@pytest.mark.requirement("SC-001")
@pytest.mark.requirement("FR-009")
def test_floe_run_materializes_every_asset(demo_project: Path, tmp_path: Path) -> None:
    project = copy_project(demo_project, tmp_path)
    done = run_in(project, str(BIN / "floe"), "run")
    assert done.returncode == 0, done.stdout + done.stderr
    for asset in ("raw_orders", "stg_customers", "orders", "customers"):
        assert asset in done.stdout
    assert "Completed successfully" in done.stdout
    assert "int_order_payments" not in done.stdout.split("run ")[-1], "ephemeral: no row"
    import duckdb

    with duckdb.connect(str(project / "dbt" / "warehouse.duckdb"), read_only=True) as db:
        row = db.execute("select count(*), sum(lifetime_value) from customers").fetchone()
    assert row == (5, 83.0)


@pytest.mark.requirement("FR-009")
def test_a_failing_model_shows_dbts_error_and_skips_downstream(
    demo_project: Path, tmp_path: Path
) -> None:
    project = copy_project(demo_project, tmp_path)
    (project / "dbt/models/marts/orders.sql").write_text(
        "select order_id, no_such_column from {{ ref('stg_orders') }}\n", encoding="utf-8"
    )
    done = run_in(project, str(BIN / "floe"), "run")
    assert done.returncode == 1, done.stdout + done.stderr
    output = done.stdout + done.stderr
    assert "no_such_column" in output, "dbt's own error text reaches the user"
    table = done.stdout.split("run ")[-1]
    assert "orders" in table and "error" in table
    assert "customers" in table and "skipped" in table
    assert "stg_orders" in table and "success" in table
    assert "Traceback" not in output


def test_dagster_asset_materialize_works(demo_project: Path, tmp_path: Path) -> None:
    project = copy_project(demo_project, tmp_path)
    done = run_in(
        project,
        str(BIN / "dagster"),
        "asset",
        "materialize",
        "-m",
        "jaffle.definitions",
        "--select",
        "*",
        env={"DAGSTER_HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "RUN_SUCCESS" in done.stdout + done.stderr


def test_dg_check_yaml_and_list_components(demo_project: Path) -> None:
    checked = run_in(demo_project, str(BIN / "dg"), "check", "yaml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    listed = run_in(demo_project, str(BIN / "dg"), "list", "components")
    assert listed.returncode == 0, listed.stderr
    assert "floe_scaffold.components.FloeDbtProject" in listed.stdout


def test_the_generated_projects_own_tests_pass(demo_project: Path, tmp_path: Path) -> None:
    project = copy_project(demo_project, tmp_path)
    done = run_in(project, str(BIN / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # definitions load, the asset graph, the sources' freshness checks, every asset
    # materialized (twice: the incremental model's second run)
    assert "4 passed" in done.stdout
    assert "warning" not in done.stdout.lower(), done.stdout[-3000:]


def test_floe_run_selects_with_dbt_syntax(demo_project: Path, tmp_path: Path) -> None:
    project = copy_project(demo_project, tmp_path)
    done = run_in(project, str(BIN / "floe"), "run", "--select", "raw_customers stg_customers")
    assert done.returncode == 0, done.stdout + done.stderr
    table = done.stdout.split("run ")[-1]
    assert "raw_customers" in table
    assert "stg_customers" in table
    assert "stg_orders" not in table


def test_a_missing_manifest_with_prepare_never_names_the_command(
    demo_project: Path, tmp_path: Path
) -> None:
    project = copy_project(demo_project, tmp_path)
    shutil.rmtree(project / "dbt" / "target")
    defs_yaml = project / "src/jaffle/defs/dbt_project/defs.yaml"
    config = yaml.safe_load(defs_yaml.read_text(encoding="utf-8"))
    config["attributes"]["prepare"] = "never"
    defs_yaml.write_text(yaml.safe_dump(config), encoding="utf-8")
    done = run_in(project, str(BIN / "floe"), "run")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "does not exist; create it with:" in done.stderr
    assert "parse --project-dir" in done.stderr


def test_a_circular_reference_surfaces_dbts_message(demo_project: Path, tmp_path: Path) -> None:
    project = copy_project(demo_project, tmp_path)
    (project / "dbt/models/staging/stg_orders.sql").write_text(
        "select * from {{ ref('orders') }}\n", encoding="utf-8"
    )
    done = run_in(project, str(BIN / "floe"), "run")
    assert done.returncode == 1
    assert "Found a cycle: model.jaffle.orders --> model.jaffle.stg_orders" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_existing_dbt_project_is_used_as_is(floe_dbt_init: Path, tmp_path: Path) -> None:
    dest = tmp_path / "wrapped"
    shutil.copytree(floe_dbt_init, dest / "analytics")
    before = {p: p.read_bytes() for p in (dest / "analytics").rglob("*") if p.is_file()}
    contract = build_contract(
        compute={"target": "duckdb", "properties": {"path": "analytics.duckdb"}},
        transforms=[{"type": "dbt", "path": "analytics"}],
    )
    init_project(dest, artifacts=write_json(tmp_path, contract), git=False)
    after = {p: p.read_bytes() for p in (dest / "analytics").rglob("*") if p.is_file()}
    assert after == before, "the user's dbt project is never modified"
    profile = yaml.safe_load((dest / ".floe/profiles/profiles.yml").read_text(encoding="utf-8"))
    assert list(profile) == ["my_dbt_project"], "the profile name is the project's own"
    # dbt's starter ships a NULL id and a not_null test on it, on purpose: its own comment asks
    # the user to uncomment a filter. So the honest first run fails that test and skips the
    # downstream model; floe must say so (exit 1), not paper over it.
    done = run_in(dest, str(BIN / "floe"), "run", "--select", "my_first_dbt_model+")
    assert done.returncode == 1, done.stdout + done.stderr
    rows = _summary_rows(done.stdout)
    assert rows["my_first_dbt_model"] == "success"
    assert rows["my_second_dbt_model"] == "skipped"
    assert "not_null_my_first_dbt_model_id" in done.stdout + done.stderr

    first = dest / "analytics/models/example/my_first_dbt_model.sql"
    first.write_text(
        first.read_text(encoding="utf-8").replace(
            "-- where id is not null", "where id is not null"
        ),
        encoding="utf-8",
    )
    done = run_in(dest, str(BIN / "floe"), "run", "--select", "my_first_dbt_model+")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _summary_rows(done.stdout) == {
        "my_first_dbt_model": "success",
        "my_second_dbt_model": "success",
    }


def _summary_rows(stdout: str) -> dict[str, str]:
    """``{asset: status}`` from the summary table ``floe run`` prints last."""
    table = stdout.split("\nrun ")[-1]
    cells = [[cell.strip() for cell in line.split("│")[1:-1]] for line in table.splitlines()]
    return {row[0]: row[1] for row in cells if len(row) >= 2 and row[0]}


@pytest.fixture(scope="module")
def floe_dbt_init(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dbt project made by `dbt init`, the way a user already has one."""
    where = tmp_path_factory.mktemp("dbt-init")
    done = subprocess.run(
        [str(BIN / "dbt"), "init", "my_dbt_project", "--skip-profile-setup"],
        cwd=where,
        env=quiet_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return where / "my_dbt_project"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_floe_dev_serves_every_model(demo_project: Path, tmp_path: Path) -> None:
    project = copy_project(demo_project, tmp_path)
    port = _free_port()
    process = subprocess.Popen(
        [str(BIN / "floe"), "dev", "--port", str(port)],
        cwd=project,
        env=quiet_env(DAGSTER_HOME=str(tmp_path / "home")),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    (tmp_path / "home").mkdir()
    query = json.dumps({"query": "{ assetNodes { assetKey { path } } }"}).encode()
    started, keys = time.monotonic(), set[str]()
    try:
        while time.monotonic() - started < 120 and not keys:
            time.sleep(0.5)
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/graphql",
                data=query,
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                    nodes = json.load(response)["data"]["assetNodes"]
            except (OSError, KeyError, TypeError, ValueError):
                continue
            keys = {"/".join(node["assetKey"]["path"]) for node in nodes}
    finally:
        import os

        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
    assert keys >= {"raw_orders", "stg_orders", "orders", "customers"}


@pytest.mark.requirement("FR-006")
def test_the_minimal_golden_artifact_materializes(tmp_path: Path) -> None:
    from tests.helpers import GOLDEN_DIR

    dest = tmp_path / "minimal"
    init_project(dest, artifacts=GOLDEN_DIR / "minimal.json", git=False)
    done = run_in(dest, str(BIN / "floe"), "run")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Completed successfully" in done.stdout


def test_the_generated_project_builds_a_wheel(demo_project: Path, tmp_path: Path) -> None:
    import zipfile

    done = run_in(
        demo_project,
        str(BIN / "python"),
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--wheel-dir",
        str(tmp_path),
        str(demo_project),
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (wheel,) = tmp_path.glob("jaffle-0.1.0-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "jaffle/definitions.py" in names
    assert "jaffle/defs/dbt_project/defs.yaml" in names
