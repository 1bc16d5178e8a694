"""``floe dev``: the Dagster UI for a generated project, started and stopped cleanly.

The UI is ``dg dev`` run in the project: it names the code location as ``[tool.dg.project]``
does (``code_location_name``, the name the deploy files use too), without the deprecation and
name-mismatch warnings of ``dagster dev -m``. It records to the project's Dagster instance
(``$DAGSTER_HOME``, else ``.dagster_home``), where ``floe run`` records too.

``dg dev`` runs in a process group of its own. On SIGINT or SIGTERM, floe sends SIGINT to that
whole group (what Ctrl-C in a terminal does), so the webserver, the daemon and the code servers
each shut down; whatever is still running a few seconds later is killed. Installing floe's own
handlers also means the children get the default SIGINT behaviour even when floe was started
with SIGINT ignored (a background job of a script).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

from floe_scaffold.errors import SystemFailureError
from floe_scaffold.project._instance import instance_home
from floe_scaffold.project._locate import ProjectLayout

__all__ = ["dev_command", "dev_environment", "group_members", "serve_dev", "ui_url"]

#: After the stop signal: how long the services get to shut down before they are killed.
GRACE_SECONDS = 7.0
_POLL_SECONDS = 0.5


def dev_command(layout: ProjectLayout, *, host: str, port: int) -> list[str]:  # noqa: ARG001
    """``dg dev`` for the project (run in its root), on ``host``:``port``."""
    dg = Path(sys.executable).parent / "dg"
    return [str(dg) if dg.exists() else "dg", "dev", "--host", host, "--port", str(port)]


def dev_environment(layout: ProjectLayout) -> dict[str, str]:
    """The environment for ``dg dev``: ``src/`` importable, the project's instance, no telemetry."""
    environment = dict(os.environ)
    paths = [str(layout.source_dir), *filter(None, environment.get("PYTHONPATH", "").split(":"))]
    environment["PYTHONPATH"] = os.pathsep.join(paths)
    environment.setdefault("DAGSTER_DG_UPDATE_CHECK_ENABLED", "0")
    environment.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    environment["DAGSTER_HOME"] = str(instance_home(layout.root))
    return environment


def ui_url(host: str, port: int) -> str:
    """Where a browser on this machine reaches the UI (a wildcard host is reached locally)."""
    local = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104
    return f"http://[{local}]:{port}" if ":" in local else f"http://{local}:{port}"


def serve_dev(
    layout: ProjectLayout, *, host: str, port: int, on_ready: Callable[[str], None]
) -> int:
    """Run the UI until it exits or floe receives SIGINT/SIGTERM; return its exit code.

    ``on_ready(url)`` is called once, when the UI answers. A stop by signal returns 0, after
    every process of the UI's group is gone.

    Raises:
        SystemFailureError: ``dg`` cannot be started.

    """
    command = dev_command(layout, host=host, port=port)
    stop = threading.Event()
    with _stop_on_signals(stop):
        try:
            process = subprocess.Popen(
                command, cwd=layout.root, env=dev_environment(layout), start_new_session=True
            )
        except OSError as error:
            raise SystemFailureError(
                f"cannot start {command[0]}: {error.strerror}; install dagster-dg-cli and "
                "dagster-webserver in this environment (pip install -e '.[dev]' in the project)"
            ) from None
        url, ready = ui_url(host, port), False
        try:
            while process.poll() is None and not stop.is_set():
                if not ready and _answers(url):
                    ready = True
                    on_ready(url)
                stop.wait(_POLL_SECONDS)
        finally:
            _stop_group(process)
    return 0 if stop.is_set() else (process.returncode or 0)


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001
        stop.set()

    previous = {number: signal.signal(number, handler) for number in _STOP_SIGNALS}
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/server_info", timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except (OSError, ValueError):
        return False


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGINT to the UI's process group, then SIGKILL to whatever is left after the grace."""
    group = process.pid
    _signal_group(group, signal.SIGINT)
    deadline = time.monotonic() + GRACE_SECONDS
    while time.monotonic() < deadline:
        process.poll()
        if not group_members(group):
            break
        time.sleep(0.1)
    else:
        _signal_group(group, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    deadline = time.monotonic() + 5
    while group_members(group) and time.monotonic() < deadline:
        time.sleep(0.1)


def _signal_group(group: int, number: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, number)


def group_members(group: int) -> list[int]:
    """The live processes (not zombies) of process group ``group``."""
    proc = Path("/proc")
    if not proc.is_dir():  # not Linux: ask the kernel whether the group still exists
        try:
            os.killpg(group, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [group]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) == group:
            members.append(int(entry.name))
    return members
