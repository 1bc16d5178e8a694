"""A dbt that has already started: ``floe run`` takes dbt's start-up out of the critical path.

A dbt command spends its first seconds starting Python and importing dbt, before it does any
work. ``floe run`` needs those same seconds for Dagster (imports, definitions, the run's setup),
so it starts a *warm* dbt process first, which imports dbt while Dagster gets ready, on the
other core. When dagster-dbt then runs dbt, the executable it starts is a small client (stdlib
only, started without ``site``) that hands the warm process its command line, environment,
working directory and standard output, relays SIGINT/SIGTERM to it and exits with its exit code.

So dbt runs exactly as its own console script does (``dbt.cli.main.cli`` with the same
arguments and environment), writes the same JSON event lines to the same pipe, and dagster-dbt
and floe's observers see the same raw events; only the start-up has moved. The warm process
serves one command: a second dbt command of the run, or a warm process that failed to start,
finds no one listening, and the client then runs the real ``dbt`` in its place.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WARM_DBT_FOR_VARIABLE", "WARM_DBT_VARIABLE", "WarmDbt", "start_warm_dbt", "warm_client"]

#: Set for the run while a warm dbt waits: the client to use as the dbt executable ...
WARM_DBT_VARIABLE = "FLOE_WARM_DBT"
#: ... in place of this dbt executable.
WARM_DBT_FOR_VARIABLE = "FLOE_WARM_DBT_FOR"

#: The warm process: import dbt, take one command from the socket floe listens on (bound before
#: this starts, so a client never finds it missing), say "ok" once it has the command, run it,
#: send its exit code, then leave at once (dbt has written and closed its files by then).
_SERVER = """\
import json, logging, os, signal, socket, sys, threading, time

path, listening = sys.argv[1], int(sys.argv[2])
parent = os.getppid()


def orphan_guard():  # floe gone (killed): no dbt of its own outlives it
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


threading.Thread(target=orphan_guard, daemon=True).start()
listener = socket.socket(fileno=listening)
from dbt.cli.main import cli

connection, _ = listener.accept()
os.unlink(path)  # a later client finds no one and runs the real dbt
listener.close()
data, fds, _, _ = socket.recv_fds(connection, 1 << 16, 1)
while b"\\n" not in data:
    chunk = connection.recv(1 << 16)
    if not chunk:
        os._exit(2)
    data += chunk
data, _, early = data.partition(b"\\n")
request = json.loads(data)
connection.sendall(b"ok\\n")
os.chdir(request["cwd"])
os.environ.clear()
os.environ.update(request["env"])
os.dup2(fds[0], 1)
os.dup2(fds[0], 2)
os.close(fds[0])
sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)
sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)


def relay():
    pending = early
    while True:
        *names, pending = pending.split(b"\\n")
        for name in names:
            if name in (b"SIGINT", b"SIGTERM"):
                os.kill(os.getpid(), getattr(signal, name.decode()))
        chunk = connection.recv(64)
        if not chunk:
            return
        pending += chunk


threading.Thread(target=relay, daemon=True).start()
sys.argv = request["argv"]
try:
    code = cli()
except SystemExit as done:
    code = done.code
code = 0 if code is None else code if isinstance(code, int) else 1
logging.shutdown()
try:  # what a normal exit does: release dbt's semaphores (else the tracker warns of leaks)
    from multiprocessing import util

    util._exit_function()
except Exception:
    pass
sys.stdout.flush()
sys.stderr.flush()
null = os.open(os.devnull, os.O_WRONLY)
os.dup2(null, 1)
os.dup2(null, 2)
connection.sendall(b"%d\\n" % code)
os._exit(0)
"""

#: The executable dagster-dbt starts in place of ``dbt``; {python}, {socket}, {dbt} filled in.
_CLIENT = """\
#!{python} -S
import json, os, signal, socket, sys

SOCKET = {socket!r}
DBT = {dbt!r}
connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    connection.connect(SOCKET)
except OSError:  # no warm dbt (taken, or it failed to start): the real one
    os.execv(DBT, [DBT, *sys.argv[1:]])
request = {{"argv": [DBT, *sys.argv[1:]], "env": dict(os.environ), "cwd": os.getcwd()}}
data = json.dumps(request).encode() + b"\\n"
try:
    socket.send_fds(connection, [data[:1]], [1])
    connection.sendall(data[1:])
except OSError:  # the warm dbt ended meanwhile: the real one
    os.execv(DBT, [DBT, *sys.argv[1:]])


def forward(signum, frame):
    try:
        connection.sendall(signal.Signals(signum).name.encode() + b"\\n")
    except OSError:
        pass


signal.signal(signal.SIGINT, forward)
signal.signal(signal.SIGTERM, forward)
reply = b""
while reply.count(b"\\n") < 2:
    try:
        chunk = connection.recv(64)
    except OSError:
        chunk = b""
    if not chunk:
        break
    reply += chunk
lines = reply.split(b"\\n")
if lines[0] != b"ok":  # the warm dbt ended before it took the command: the real one
    os.execv(DBT, [DBT, *sys.argv[1:]])
sys.exit(int(lines[1]) if len(lines) > 2 and lines[1].isdigit() else 2)
"""


@dataclass
class WarmDbt:
    """A warm dbt process and its client; :meth:`close` ends an unused one and cleans up."""

    client: Path
    process: subprocess.Popen[bytes]
    folder: Path

    def close(self) -> None:
        """Stop the warm process if no command took it; remove its folder."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
        if os.environ.get(WARM_DBT_VARIABLE) == str(self.client):
            del os.environ[WARM_DBT_VARIABLE]
            os.environ.pop(WARM_DBT_FOR_VARIABLE, None)


def warm_client(dbt: str) -> str | None:
    """The client of the warm dbt started for ``dbt``, if one is waiting in this process."""
    client = os.environ.get(WARM_DBT_VARIABLE)
    if client and os.environ.get(WARM_DBT_FOR_VARIABLE) == dbt and Path(client).is_file():
        return client
    return None


def real_dbt() -> str:
    """The ``dbt`` beside this Python, else on PATH (as ``components._manifest`` finds it)."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else shutil.which("dbt") or "dbt"


def start_warm_dbt(dbt: str) -> WarmDbt | None:
    """Start a warm dbt for ``dbt`` (the real executable) and announce its client.

    None where it cannot help: no Unix sockets or fd passing (Windows), a Python path a
    ``#!`` line cannot hold, a temporary folder too deep for a socket path.
    """
    if not hasattr(os, "fork") or not hasattr(socket, "send_fds"):
        return None
    if any(char.isspace() for char in sys.executable) or not Path(dbt).is_file():
        return None
    folder = Path(tempfile.mkdtemp(prefix="floe-dbt-"))
    socket_path = folder / "s"
    if len(str(socket_path)) > 100:  # AF_UNIX paths hold about 104 bytes
        shutil.rmtree(folder, ignore_errors=True)
        return None
    client = folder / "dbt"
    client.write_text(
        _CLIENT.format(python=sys.executable, socket=str(socket_path), dbt=dbt), encoding="utf-8"
    )
    client.chmod(0o700)
    server = folder / "warm_dbt.py"
    server.write_text(_SERVER, encoding="utf-8")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(socket_path))
        listener.listen(1)
        process = subprocess.Popen(
            [sys.executable, str(server), str(socket_path), str(listener.fileno())],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=[listener.fileno()],
        )
    os.environ[WARM_DBT_VARIABLE] = str(client)
    os.environ[WARM_DBT_FOR_VARIABLE] = dbt
    return WarmDbt(client, process, folder)
