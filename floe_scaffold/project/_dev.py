"""``floe dev``: the Dagster UI for a generated project, started and stopped cleanly.

The UI is ``dg dev`` run in the project: it names the code location as ``[tool.dg.project]``
does (``code_location_name``, the name the deploy files use too), without the deprecation and
name-mismatch warnings of ``dagster dev -m``. It records to the project's Dagster instance
(``$DAGSTER_HOME``, else ``.dagster_home``), where ``floe run`` records too.

``dg dev`` checks the project's component YAML before it starts anything (``dg check yaml``:
about 3 s, mostly importing every installed component package, dagster-dbt and dbt among them).
floe runs that same check beside the UI instead (``dg dev --no-check-yaml``), so the check and
the code server's load share the two cores rather than queue: a YAML error still stops ``floe
dev`` with ``dg check yaml``'s own report (file, line, the attribute's path), and the UI is
announced only once the check has passed. Once the UI has stopped, the daemon's last heartbeats
are removed from the project's own instance (:func:`forget_daemon_heartbeats`).

``dg dev`` runs in a process group of its own. On SIGINT or SIGTERM, floe sends SIGINT to that
whole group (what Ctrl-C in a terminal does), so the webserver, the daemon and the code servers
each shut down; whatever is still running a few seconds later is killed. Installing floe's own
handlers also means the children get the default SIGINT behaviour even when floe was started
with SIGINT ignored (a background job of a script).

In a terminal the UI's processes write to it directly, in colour. When floe's stdout or stderr
is not a terminal (a log file, a pipe, a CI job), that stream of theirs comes through floe, line
by line, without ANSI escape sequences: Dagster's ``colored`` log format colours whatever the
stream (its ``coloredlogs`` formatter is configured without a terminal check, and reads no
``NO_COLOR``), and dbt colours its lines in a run launched from the UI when ``use_colors: true``
is in ``dbt_project.yml`` whatever ``DBT_USE_COLORS`` says.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import IO, TextIO

from floe_scaffold._dbt_output import strip_ansi
from floe_scaffold.errors import EXIT_INVALID_INPUT, FloeError, SystemFailureError
from floe_scaffold.project._instance import instance_home
from floe_scaffold.project._locate import ProjectLayout

__all__ = [
    "ComponentYamlError",
    "check_command",
    "dev_command",
    "dev_environment",
    "forget_daemon_heartbeats",
    "group_members",
    "serve_dev",
    "ui_url",
]

#: After the stop signal: how long the services get to shut down before they are killed.
GRACE_SECONDS = 7.0
_POLL_SECONDS = 0.25


class ComponentYamlError(FloeError):
    """The project's component YAML does not validate (exit 1); the message is dg's report."""

    exit_code = EXIT_INVALID_INPUT


def _dg() -> str:
    dg = Path(sys.executable).parent / "dg"
    return str(dg) if dg.exists() else "dg"


def dev_command(layout: ProjectLayout, *, host: str, port: int) -> list[str]:  # noqa: ARG001
    """``dg dev`` for the project (run in its root), on ``host``:``port``; floe checks the YAML."""
    return [_dg(), "dev", "--no-check-yaml", "--host", host, "--port", str(port)]


def check_command() -> list[str]:
    """``dg check yaml`` for the project (run in its root): what ``dg dev`` checks first."""
    return [_dg(), "check", "yaml"]


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

    ``on_ready(url)`` is called once, when the UI answers and the component YAML has passed
    ``dg check yaml`` (run beside it). A stop by signal returns 0, after every process of the
    UI's group is gone.

    Raises:
        SystemFailureError: ``dg`` cannot be started.
        ComponentYamlError: the YAML check failed (the UI is stopped first).

    """
    command = dev_command(layout, host=host, port=port)
    environment = dev_environment(layout)
    stop = threading.Event()
    with _stop_on_signals(stop), tempfile.TemporaryFile() as report:
        plain = _not_terminals()
        process = _start(command, layout.root, environment, None, plain=plain)
        forwarding = _forward_plain(process, plain)
        check: subprocess.Popen[bytes] | None = None
        url, ready, failed = ui_url(host, port), False, False
        try:
            check = _start(check_command(), layout.root, environment, report)
            while process.poll() is None and not stop.is_set():
                if check is not None and check.poll() is not None:
                    failed = check.returncode != 0
                    check = None
                    if failed:
                        break
                if check is None and not ready and _answers(url):
                    ready = True
                    on_ready(url)
                stop.wait(_POLL_SECONDS)
        finally:
            if check is not None:
                check.kill()
                check.wait()
            # A UI stopped before it is up (a failed check, an early Ctrl-C) gets SIGTERM:
            # SIGINT would have each process still importing print a KeyboardInterrupt traceback.
            _stop_group(process, signal.SIGINT if ready else signal.SIGTERM)
            for thread in forwarding:  # what the stopped processes wrote last, then EOF
                thread.join(timeout=5)
            if "DAGSTER_HOME" not in os.environ:  # the project's own instance: no other daemon
                forget_daemon_heartbeats(Path(environment["DAGSTER_HOME"]))
        if failed and not stop.is_set():
            report.seek(0)
            text = strip_ansi(report.read().decode("utf-8", errors="replace")).rstrip()
            raise ComponentYamlError(
                f"the project's component YAML does not validate (dg check yaml):\n{text}\n"
                "fix what it names, then start floe dev again"
            )
    return 0 if stop.is_set() else (process.returncode or 0)


def _start(
    command: list[str],
    root: Path,
    environment: dict[str, str],
    output: IO[bytes] | None,
    *,
    plain: tuple[TextIO | None, TextIO | None] = (None, None),
) -> subprocess.Popen[bytes]:
    """Start ``command`` in ``root``, in a session of its own (floe alone stops it).

    Its output goes to ``output``; else to floe's stdout and stderr, through a pipe for each
    one named in ``plain`` (see :func:`_forward_plain`).
    """
    stdout: IO[bytes] | int | None = output
    stderr: int | None = subprocess.STDOUT if output is not None else None
    if output is None:
        stdout = subprocess.PIPE if plain[0] is not None else None
        stderr = subprocess.PIPE if plain[1] is not None else None
    try:
        return subprocess.Popen(
            command,
            cwd=root,
            env=environment,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    except OSError as error:
        raise SystemFailureError(
            f"cannot start {command[0]}: {error.strerror}; install dagster-dg-cli and "
            "dagster-webserver in this environment (pip install -e '.[dev]' in the project)"
        ) from None


def _not_terminals() -> tuple[TextIO | None, TextIO | None]:
    """The stdout and stderr of floe, each only when not a terminal (its output is plain)."""

    def plain(stream: TextIO) -> TextIO | None:
        try:
            return None if stream.isatty() else stream
        except (AttributeError, ValueError):
            return stream

    return plain(sys.stdout), plain(sys.stderr)


_WRITING = threading.Lock()


def _forward_plain(
    process: subprocess.Popen[bytes], plain: tuple[TextIO | None, TextIO | None]
) -> list[threading.Thread]:
    """Threads copying the process's piped output to floe's streams, ANSI sequences removed.

    Line by line, flushed, so a log file follows the UI as it works. A stream that cannot be
    written any more (a closed pipe) is still read to its end, so no process blocks on it.
    """
    threads = []
    for source, target in ((process.stdout, plain[0]), (process.stderr, plain[1])):
        if source is not None and target is not None:
            thread = threading.Thread(
                target=_pump, args=(source, target), name="floe-dev-output", daemon=True
            )
            thread.start()
            threads.append(thread)
    return threads


def _pump(source: IO[bytes], target: TextIO) -> None:
    writable = True
    with source:
        for raw in iter(source.readline, b""):
            if not writable:
                continue
            text = strip_ansi(raw.decode("utf-8", errors="replace"))
            try:
                with _WRITING:
                    target.write(text)
                    target.flush()
            except (OSError, ValueError):
                writable = False


def forget_daemon_heartbeats(home: Path) -> None:
    """Remove the heartbeats of the instance's daemons, once none is running.

    Dagster's daemon leaves its last heartbeats when it stops; one started again within a
    minute finds them and logs an ERROR per daemon type ("Another SENSOR daemon is still
    sending heartbeats. You likely have multiple daemon processes running at once"). Only
    cosmetic, so a failure here is ignored.
    """
    with contextlib.suppress(Exception):
        import dagster as dg

        with dg.DagsterInstance.from_config(str(home)) as instance:
            instance.wipe_daemon_heartbeats()


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


def _stop_group(process: subprocess.Popen[bytes], number: int) -> None:
    """Signal ``number`` to the UI's process group, then SIGKILL what is left after the grace."""
    group = process.pid
    _signal_group(group, number)
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
