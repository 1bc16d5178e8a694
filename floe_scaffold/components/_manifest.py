"""Making sure a dbt manifest exists and is current, without re-parsing when nothing changed.

dagster-dbt's own preparation runs ``dbt parse`` on every ``dg`` call and copies the project.
Here the manifest is re-parsed only when it is missing, or (in development) when a file of the
dbt project or the profile changed since the last parse: a fingerprint of their names, sizes
and modification times is kept next to the manifest.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal

from floe_scaffold.components._packages import ensure_packages
from floe_scaffold.errors import FloeError

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
_SKIPPED_DIRS = {"target", "dbt_packages", "logs", ".git", "__pycache__", ".venv"}
# The files dbt reads when it parses; anything else (a DuckDB file written by every run, logs)
# must not make the manifest look stale.
_SOURCE_SUFFIXES = {".sql", ".py", ".yml", ".yaml", ".csv", ".md", ".jinja", ".jinja2", ".json"}
_STAMP = "floe_manifest.fingerprint"
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


def _project_files(project_dir: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(project_dir):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS and not d.startswith("."))
        for name in sorted(files):
            path = Path(root) / name
            if path.suffix.lower() in _SOURCE_SUFFIXES:
                yield path


def fingerprint(project_dir: Path, inputs: Sequence[Path], extra: Sequence[str]) -> str:
    """A digest of every project file's name, size and mtime, plus ``inputs`` and ``extra``."""
    digest = hashlib.sha256()
    for path in [*_project_files(project_dir), *inputs]:
        try:
            stat = path.stat()
        except OSError:
            continue
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    digest.update("\0".join(extra).encode())
    return digest.hexdigest()


def _is_dev() -> bool:
    # `dagster dev` and every `dg` command set this; so does `floe run`.
    return bool(os.environ.get("DAGSTER_IS_DEV_CLI"))


def ensure_manifest(
    project_dir: Path,
    profiles_dir: Path,
    *,
    target: str | None,
    profile: str | None,
    mode: PrepareMode = "auto",
) -> Path:
    """Return ``target/manifest.json`` of the dbt project, running ``dbt parse`` if needed.

    ``auto``: parse when the manifest is missing, or in development when the project changed.
    ``always``: parse on every load. ``never``: only check that the manifest exists.

    Raises:
        ManifestError: the manifest is missing and ``mode`` is ``never``, or ``dbt parse``
            failed; the message says which command to run and shows dbt's own error.

    """
    manifest = project_dir / "target" / "manifest.json"
    command = dbt_parse_command(project_dir, profiles_dir, target, profile)
    if mode == "never":
        if not manifest.exists():
            raise ManifestError(_missing_message(manifest, command))
        return manifest
    # Packages first: `dbt parse` fails on a project whose declared packages are not installed,
    # and `dbt deps` rewrites package-lock.yml, which the fingerprint below covers.
    ensure_packages(project_dir, _deps_runner(project_dir), dbt_deps_command(project_dir))
    stamp = project_dir / "target" / _STAMP
    current = fingerprint(
        project_dir, [profiles_dir / "profiles.yml"], [target or "", profile or ""]
    )
    if mode == "auto" and manifest.exists():
        if not _is_dev():
            return manifest
        if stamp.exists() and stamp.read_text(encoding="utf-8") == current:
            return manifest
    _parse(command, project_dir, manifest)
    stamp.write_text(current, encoding="utf-8")
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


def _missing_message(manifest: Path, command: Sequence[str]) -> str:
    return (
        f"the dbt manifest {manifest} does not exist; create it with:\n  {_shell(command)}\n"
        "(or use `floe run`, which prepares it, or set `prepare: auto` on the component)"
    )


def _shell(command: Sequence[str]) -> str:
    import shlex

    return shlex.join(command)
