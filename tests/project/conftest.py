"""Fixtures for generated projects: render once per session, load definitions in-process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from floe_scaffold.project import init_project
from tests.postgres import PostgresInfo

BIN = Path(sys.executable).parent


def quiet_env(**extra: str) -> dict[str, str]:
    """The environment for subprocesses of generated projects: no telemetry, no update checks."""
    return {
        **os.environ,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
        "DAGSTER_DG_UPDATE_CHECK_ENABLED": "0",
        "NO_COLOR": "1",
        **extra,
    }


def copy_project(project: Path, tmp_path: Path) -> Path:
    """A copy of a generated project, as a fresh clone has it: no Dagster home, no DuckDB file."""
    copy = tmp_path / project.name
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns(".dagster_home", "*.duckdb"))
    return copy


def processes_in(directory: Path) -> list[str]:
    """The command lines of live processes whose working directory is ``directory``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "cwd").readlink() != directory:
                continue
            status = (entry / "status").read_text(encoding="utf-8")
            if "\nState:\tZ" in status:  # a zombie has stopped; only its entry is left
                continue
            found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def run_in(
    project: Path, *command: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in ``project`` with its ``src/`` importable (10 minutes at most).

    ``src/`` goes before any ``PYTHONPATH`` already set (``tests/mutations.py`` sets one to run
    a mutated copy of floe_scaffold), not instead of it.
    """
    path = [str(project / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
    return subprocess.run(
        list(command),
        cwd=project,
        env=quiet_env(PYTHONPATH=os.pathsep.join(path), **(env or {})),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


#: The assets of the demo project (3 seeds, 6 models; its ephemeral model is not an asset, and
#: its source `shop.raw_orders` is an external asset: checked, never materialized).
DEMO_ASSETS = frozenset(
    {
        "raw_customers",
        "raw_orders",
        "raw_payments",
        "stg_customers",
        "stg_orders",
        "stg_payments",
        "orders",
        "customers",
        "daily_orders",
    }
)


def floe_run(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``floe run`` in ``project`` with only the given OpenLineage/OpenTelemetry settings."""
    clean = {k: v for k, v in quiet_env().items() if not k.startswith(("OTEL_", "OPENLINEAGE"))}
    return subprocess.run(
        [str(BIN / "floe"), "run", *args],
        cwd=project,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


@pytest.fixture(scope="session")
def demo_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo project rendered once, with its manifest parsed, shared by read-only tests."""
    dest = tmp_path_factory.mktemp("demo") / "jaffle"
    init_project(dest)
    done = run_in(dest, str(BIN / "dg"), "check", "defs")
    assert done.returncode == 0, done.stdout + done.stderr
    return dest


@pytest.fixture
def loaded_definitions() -> Iterator[Any]:
    """``load(project, package)`` imports a generated project's definitions in-process."""
    added: list[tuple[str, str]] = []

    def load(project: Path, package: str) -> Any:
        source = str(project / "src")
        sys.path.insert(0, source)
        added.append((source, package))
        module = __import__(f"{package}.definitions", fromlist=["defs"])
        return module.defs()

    yield load
    for source, package in added:
        sys.path.remove(source)
        for name in [name for name in sys.modules if name.split(".")[0] == package]:
            del sys.modules[name]


def summary_row_counts(stdout: str) -> dict[str, str]:
    """Demo asset -> the rows cell of the summary table ``floe run`` prints."""
    rows = {}
    for line in stdout.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if len(cells) == 4 and cells[0] in DEMO_ASSETS:
            rows[cells[0]] = cells[3]
    return rows


def duckdb_dbt_project(root: Path, name: str) -> Path:
    """``root/dbt``: a dbt project named ``name`` with a profile on the DuckDB file ``w.db``."""
    project = root / "dbt"
    project.mkdir()
    (project / "dbt_project.yml").write_text(
        yaml.safe_dump({"name": name, "version": "1.0.0", "profile": name}), encoding="utf-8"
    )
    profiles = {name: {"target": "dev", "outputs": {"dev": {"type": "duckdb", "path": "w.db"}}}}
    (project / "profiles.yml").write_text(yaml.safe_dump(profiles), encoding="utf-8")
    return project


def postgres_demo(server: PostgresInfo, where: Path, schema: str) -> tuple[Path, dict[str, str]]:
    """The demo generated into ``where/shop`` for ``schema`` on a real PostgreSQL server, and
    the variables its profile reads (the server's user and password)."""
    from tests.helpers import contract_for, write_json

    properties = {
        "host": server.host,
        "port": server.port,
        "database": server.database,
        "schema": schema,
    }
    project = where / "shop"
    init_project(
        project, artifacts=write_json(where, contract_for("postgres", properties=properties))
    )
    return project, {"FLOE_POSTGRES_USER": server.user, "FLOE_POSTGRES_PASSWORD": server.password}
