"""Making sure a dbt manifest exists and is current, without re-parsing when nothing changed.

dagster-dbt's own preparation runs ``dbt parse`` on every ``dg`` call and copies the project.
Here the manifest is re-parsed only when it is missing or stale: every load, in any process (a
code server, ``dg``, ``dagster dev``, ``floe run``, a test importing the definitions), compares
the dbt project's source files and profile with the record floe keeps beside the manifest when
it parses (``_manifest_stamp``: a ``stat`` per file, a hash only where a time changed). A stale
manifest is never used: ``auto`` and ``always`` parse again, ``never`` refuses with one line
naming the changed file and the command that parses it, so that dagster-dbt never meets a dbt
node its manifest lacks (``KeyError: 'model.…'`` in the middle of a run).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Literal

from floe_scaffold.components._manifest_stamp import (
    STAMP,
    parse_settings,
    record,
    staleness,
    take_snapshot,
)
from floe_scaffold.components._packages import ensure_packages
from floe_scaffold.errors import FloeError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: parses are not serialized
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "DBT_RUN_FLAGS",
    "ManifestError",
    "PackagesError",
    "PrepareMode",
    "dbt_deps_command",
    "dbt_executable",
    "dbt_parse_command",
    "ensure_manifest",
]

PrepareMode = Literal["auto", "always", "never"]
#: Held while one process checks, parses and records, so that two loads at once parse once.
_LOCK = ".floe_parse.lock"
#: dbt sends anonymous usage statistics by default; a run must make no network call.
DBT_QUIET_FLAGS = ("--no-send-anonymous-usage-stats",)
#: Global flags of every dbt run: no network call, and a JSON debug log file (lineage reads the
#: error text of a failing node from it as soon as dbt reports the failure).
DBT_RUN_FLAGS = (*DBT_QUIET_FLAGS, "--log-format-file", "json")


class ManifestError(FloeError):
    """The dbt manifest is missing and could not be made; the message names the command.

    The message's first line says what is wrong; the lines after it (the command to run, dbt's
    own output) become ``output``, which the CLI shows as lines, not as one escaped string.
    """

    def __init__(self, message: str, *, output: str | None = None) -> None:
        headline, _, rest = message.partition("\n")
        more = "\n".join(part for part in (rest, output or "") if part)
        super().__init__(headline, output=more or None)


class PackagesError(ManifestError):
    """``dbt deps`` failed for a project that declares packages; the message shows dbt's error."""


def dbt_executable() -> str:
    """The ``dbt`` of this Python environment (so versions match), else the one on PATH."""
    beside = Path(sys.executable).parent / "dbt"
    if beside.exists():
        return str(beside)
    return shutil.which("dbt") or "dbt"


def dbt_parse_command(
    project_dir: Path, profiles_dir: Path, target: str | None, profile: str | None
) -> list[str]:
    """The ``dbt parse`` command line that writes ``target/manifest.json``.

    ``--target``/``--profile`` only where they are not the defaults, as for the runs (dbt's
    partial parse holds only while these flags stay the same; see ``_dbt_defaults``).
    """
    from floe_scaffold._dbt_defaults import without_defaults

    profile, target = without_defaults(project_dir, profiles_dir, profile, target)
    command = [
        dbt_executable(),
        *DBT_QUIET_FLAGS,
        "parse",
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(profiles_dir),
    ]
    if target:
        command += ["--target", target]
    if profile:
        command += ["--profile", profile]
    return command


def dbt_deps_command(project_dir: Path) -> list[str]:
    """The ``dbt deps`` command line that installs the project's declared packages."""
    return [dbt_executable(), *DBT_QUIET_FLAGS, "deps", "--project-dir", str(project_dir)]


def _run_dbt(command: Sequence[str], project_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run one dbt command in the project, its output captured as plain text (no colours)."""
    environment = {
        **os.environ,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_USE_COLORS": "false",  # its output is shown as text, in an error message
    }
    return subprocess.run(
        list(command),
        cwd=project_dir,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )


def _deps_runner(project_dir: Path) -> Callable[[Sequence[str]], None]:
    def run(command: Sequence[str]) -> None:
        try:
            done = _run_dbt(command, project_dir)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise PackagesError(
                f"dbt deps could not run for {project_dir} ({error}); run it yourself:\n"
                f"  {_shell(command)}"
            ) from None
        if done.returncode != 0:
            raise PackagesError(
                f"dbt deps failed for {project_dir} (exit {done.returncode}): the packages it "
                "declares could not be installed; fix the entry dbt names below (a `local:` "
                "path, a version, or a hub or git remote this machine cannot reach), then run "
                "again",
                output="\n".join(
                    [
                        *_dbt_lines(done.stdout + done.stderr),
                        f"dbt deps alone: {_shell(command)}",
                    ]
                ),
            )

    return run


@contextlib.contextmanager
def _parse_lock(target_dir: Path, *, shared: bool = False) -> Iterator[None]:
    """The project's parse lock, held for the block.

    Exclusive to parse and record; shared to check, so a check waits for a parse under way
    instead of judging its half-written manifest. Not held where it cannot be taken (a
    read-only ``target/``, a system without ``flock``).
    """
    descriptor = None
    if fcntl is not None:
        try:
            if not shared:
                target_dir.mkdir(parents=True, exist_ok=True)
            # Read-only is enough for flock, and opens a lock file another user made.
            descriptor = os.open(target_dir / _LOCK, os.O_RDONLY | os.O_CREAT, 0o666)
            # A parse holding it ends within its timeout.
            fcntl.flock(descriptor, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        except OSError:
            if descriptor is not None:
                os.close(descriptor)
            descriptor = None
    try:
        yield
    finally:
        if descriptor is not None:
            os.close(descriptor)


def _staleness(project_dir: Path, manifest: Path, settings: Mapping[str, str]) -> str | None:
    """``staleness`` of an existing manifest, judged while no other load parses it."""
    with _parse_lock(manifest.parent, shared=True):
        return staleness(project_dir, manifest, settings)


def ensure_manifest(
    project_dir: Path,
    profiles_dir: Path,
    *,
    target: str | None,
    profile: str | None,
    mode: PrepareMode = "auto",
) -> Path:
    """Return ``target/manifest.json`` of the dbt project, running ``dbt parse`` if needed.

    ``auto``: parse when the manifest is missing or stale (``_manifest_stamp``: a source file or
    the profile's target changed since it was parsed; a manifest floe did not parse is stale
    when a source file is newer). ``always``: parse on every load. ``never``: parse nothing;
    refuse a missing or stale manifest. After a parse, the record of what it read is written
    beside the manifest.

    Raises:
        ManifestError: the manifest is missing or stale and ``mode`` is ``never`` (one line,
            naming the command), or ``dbt parse`` failed (showing dbt's own error).

    """
    manifest = project_dir / "target" / "manifest.json"
    command = dbt_parse_command(project_dir, profiles_dir, target, profile)
    settings = parse_settings(project_dir, profiles_dir, target, profile)
    if mode == "never":
        if not manifest.exists():
            raise ManifestError(_missing_message(manifest, command))
        reason = _staleness(project_dir, manifest, settings)
        if reason is not None:
            raise ManifestError(_stale_message(manifest, reason, command))
        return manifest
    # Packages first: `dbt parse` fails on a project whose declared packages are not installed,
    # and `dbt deps` rewrites package-lock.yml, which the record covers.
    ensure_packages(project_dir, _deps_runner(project_dir), dbt_deps_command(project_dir))

    def current(judge: Callable[[Path, Path, Mapping[str, str]], str | None]) -> bool:
        kept = mode == "auto" and manifest.exists()
        return kept and judge(project_dir, manifest, settings) is None

    if current(_staleness):
        return manifest
    with _parse_lock(manifest.parent):
        if current(staleness):  # another load parsed while this one waited for the lock
            return manifest
        before = take_snapshot(project_dir)  # what dbt is about to read: an edit during the
        _parse(command, project_dir, manifest)  # parse is then seen as a change next time
        record(manifest.parent / STAMP, manifest, before, settings)
    return manifest


def _parse(command: list[str], project_dir: Path, manifest: Path) -> None:
    try:
        done = _run_dbt(command, project_dir)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ManifestError(f"{_missing_message(manifest, command)}\n  ({error})") from None
    if done.returncode != 0 or not manifest.exists():
        raise ManifestError(
            f"dbt parse failed for {project_dir} (exit {done.returncode}); fix the error dbt "
            "reports below, then run again",
            output="\n".join(
                [*_dbt_lines(done.stdout + done.stderr), f"dbt parse alone: {_shell(command)}"]
            ),
        )


def _dbt_lines(text: str) -> list[str]:
    """The lines dbt printed (the last 80): no colours, times, or traceback unless debugging."""
    from floe_scaffold._dbt_output import debug_requested, log_lines, without_tracebacks

    lines = log_lines(text)
    return (lines if debug_requested() else without_tracebacks(lines))[-80:]


def check_acyclic(manifest: dict[str, object], path: Path) -> None:
    """Refuse a manifest whose DAG has a cycle, naming it the way dbt does.

    ``dbt parse`` accepts a cycle (dbt finds it only when it compiles), and dagster-dbt would then
    recurse without end while building asset dependencies.
    """
    parents = manifest.get("parent_map")
    if not isinstance(parents, dict):
        return
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for start in sorted(parents):
        if state.get(start):
            continue
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(parents.get(start) or ()))]
        state[start] = 1
        while stack:
            node, upstream = stack[-1]
            parent = next(upstream, None)
            if parent is None:
                state[node] = 2
                stack.pop()
            elif state.get(parent) == 1:
                cycle = [name for name, _ in stack][[n for n, _ in stack].index(parent) :]
                chain = " --> ".join([*cycle, parent])
                raise ManifestError(
                    f"Found a cycle: {chain}\n  in {path}; remove one of these refs and the "
                    "manifest is rebuilt on the next load"
                )
            elif not state.get(parent):
                state[parent] = 1
                stack.append((parent, iter(parents.get(parent) or ())))


def _stale_message(manifest: Path, reason: str, command: Sequence[str]) -> str:
    """One line: the manifest, the file that makes it stale, the command that parses it."""
    return (
        f"the dbt manifest {manifest} is out of date ({reason}); parse it again with "
        f"`{_shell(command)}`, or set `prepare: auto` on the component to parse when needed"
    )


def _missing_message(manifest: Path, command: Sequence[str]) -> str:
    return (
        f"the dbt manifest {manifest} does not exist; create it with:\n  {_shell(command)}\n"
        "(or use `floe run`, which prepares it, or set `prepare: auto` on the component)"
    )


def _shell(command: Sequence[str]) -> str:
    import shlex

    return shlex.join(command)
