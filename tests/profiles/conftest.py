"""Fixtures for the profile tests: running the real ``dbt`` CLI, and a real PostgreSQL server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import pytest

from tests.postgres import PostgresInfo, embedded_postgres

#: The dbt executable of the interpreter running the tests (the venv's, never one on PATH).
DBT = Path(sys.executable).parent / "dbt"
TINY_PROJECT = Path(__file__).resolve().parents[1] / "dbt_projects" / "tiny"

# Variables that would let the machine's settings leak into a dbt run, or make it slow.
_DROPPED_PREFIXES = ("DBT_", "FLOE_")
_DBT_QUIET = {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "DO_NOT_TRACK": "1",
    "DBT_VERSION_CHECK": "false",
}


class DbtRunner(Protocol):
    """The ``dbt`` fixture: ``dbt(["parse", ...], env={...}, cwd=dir)`` runs the real CLI."""

    def __call__(
        self,
        args: Sequence[str | Path],
        *,
        env: Mapping[str, str],
        cwd: Path,
        unset: Collection[str] = (),
        timeout: float = 240,
    ) -> subprocess.CompletedProcess[str]: ...


def dbt_environment(env: Mapping[str, str], unset: Collection[str] = ()) -> dict[str, str]:
    """The environment of one dbt subprocess: this one's, without dbt/floe settings, plus ``env``.

    The test process's own environment is never changed; credentials exist only in the child's.
    """
    base = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_DROPPED_PREFIXES) and name not in unset
    }
    return {**base, **_DBT_QUIET, **env}


@pytest.fixture
def dbt() -> DbtRunner:
    """Run ``dbt`` as a subprocess with output captured (stdout and stderr together)."""

    def run(
        args: Sequence[str | Path],
        *,
        env: Mapping[str, str],
        cwd: Path,
        unset: Collection[str] = (),
        timeout: float = 240,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(DBT), *(str(arg) for arg in args)],
            cwd=cwd,
            env=dbt_environment(env, unset),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


@pytest.fixture
def tiny_project(tmp_path: Path) -> Path:
    """A fresh copy of ``tests/dbt_projects/tiny`` (dbt writes target/ and logs/ into it)."""
    project = tmp_path / "tiny"
    shutil.copytree(TINY_PROJECT, project)
    return project


# -- PostgreSQL --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresInfo]:
    """A real PostgreSQL server (``embedded-postgres``) for the session, always stopped after."""
    with embedded_postgres(database="floe_it", user="floe_dbt") as info:
        yield info
