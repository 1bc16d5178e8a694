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

While it waits, the warm process can also *warm up*: a ``dbt parse`` of the project with the
flags the run will give dbt. A dbt command's first invocation in a process spends about 0.6 s
(on the demo) on work every later one skips: mashumaro compiles dbt's (de)serialisers on first
use, Jinja compiles the macros, the adapter's plugin is set up. The warm-up pays that on the
idle core. It leaves nothing behind: it reads a copy of the project's ``partial_parse.msgpack``
and writes its artefacts and logs to a scratch folder inside the warm process's own temporary
folder (removed after, and with that folder in any case), with no ``manifest.json``, no usage
statistics, and no connection to the warehouse (``dbt parse`` opens none). If it fails, or the
flags that key dbt's partial parse differ from the run's, the command is served all the same,
only without that gain; :meth:`WarmDbt.warm_up_outcome` says which.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "WARM_DBT_FOR_VARIABLE",
    "WARM_DBT_VARIABLE",
    "WarmDbt",
    "WarmUp",
    "start_warm_dbt",
    "warm_client",
]

#: Set for the run while a warm dbt waits: the client to use as the dbt executable ...
WARM_DBT_VARIABLE = "FLOE_WARM_DBT"
#: ... in place of this dbt executable.
WARM_DBT_FOR_VARIABLE = "FLOE_WARM_DBT_FOR"

#: The warm process: import dbt, warm up (a ``dbt parse`` into a scratch folder, if asked), take
#: one command from the socket floe listens on (bound before this starts, so a client never finds
#: it missing), say "ok" once it has the command, run it, send its exit code, then leave at once
#: (dbt has written and closed its files by then).
_SERVER = """\
import json, logging, os, shutil, signal, socket, sys, threading, time

path, listening, warm_up = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
parent = os.getppid()


def orphan_guard():  # floe gone (killed): no dbt of its own outlives it
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


threading.Thread(target=orphan_guard, daemon=True).start()
listener = socket.socket(fileno=listening)
from dbt.cli.main import cli

if warm_up is not None:  # in floe's folder for this process, which floe removes in any case
    scratch, outcome = os.path.join(os.path.dirname(path), "warm-up"), "failed: dbt parse failed"
    try:
        from dbt.cli.main import dbtRunner

        os.mkdir(scratch)
        if warm_up["partial_parse"] and os.path.isfile(warm_up["partial_parse"]):
            shutil.copy(warm_up["partial_parse"], scratch)
        result = dbtRunner().invoke(
            [
                *warm_up["argv"],
                "--target-path", scratch,
                "--log-path", scratch,
                "--no-write-json",
                "--no-send-anonymous-usage-stats",
                "--quiet",
            ]
        )
        if result.success:
            outcome = "ok"
    except Exception as error:  # a warm-up only saves time: the command is served anyway
        outcome = f"failed: {type(error).__name__}: {error}"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    with open(scratch + ".outcome", "w", encoding="utf-8") as said:
        said.write(outcome)

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


@dataclass(frozen=True)
class WarmUp:
    """What the warm process parses while it waits: the dbt project, with the run's flags."""

    project_dir: Path
    profiles_dir: Path
    profile: str | None
    target: str | None
    #: ``--vars`` of the run's command: part of dbt's partial-parse key, like profile and target.
    dbt_vars: str | None = None

    def argv(self) -> list[str]:
        """``dbt parse`` with the flags the run gives dbt (profile/target only if not default)."""
        flags = [("--profile", self.profile), ("--target", self.target), ("--vars", self.dbt_vars)]
        return [
            "parse",
            "--project-dir",
            str(self.project_dir),
            "--profiles-dir",
            str(self.profiles_dir),
            *(part for flag, value in flags if value is not None for part in (flag, value)),
        ]

    def partial_parse(self) -> Path:
        """The project's partial-parse state, where dagster-dbt copies it from for a run."""
        target = Path(os.environ.get("DBT_TARGET_PATH") or "target")
        return (target if target.is_absolute() else self.project_dir / target) / (
            "partial_parse.msgpack"
        )


@dataclass
class WarmDbt:
    """A warm dbt process and its client; :meth:`close` ends an unused one and cleans up."""

    client: Path
    process: subprocess.Popen[bytes]
    folder: Path

    def warm_up_outcome(self) -> str | None:
        """``ok``, or ``failed: <why>``, once the warm process has warmed up; else None."""
        try:
            return (self.folder / "warm-up.outcome").read_text(encoding="utf-8")
        except OSError:
            return None

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


def start_warm_dbt(dbt: str, warm_up: WarmUp | None = None) -> WarmDbt | None:
    """Start a warm dbt for ``dbt`` (the real executable) and announce its client.

    With ``warm_up``, the warm process parses that project while it waits (module docstring).

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
        spec = (
            None
            if warm_up is None
            else {
                "argv": warm_up.argv(),
                "partial_parse": str(warm_up.partial_parse()),
            }
        )
        process = subprocess.Popen(
            [
                sys.executable,
                str(server),
                str(socket_path),
                str(listener.fileno()),
                json.dumps(spec),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=[listener.fileno()],
        )
    os.environ[WARM_DBT_VARIABLE] = str(client)
    os.environ[WARM_DBT_FOR_VARIABLE] = dbt
    return WarmDbt(client, process, folder)
