"""The generated project against plain Dagster + dbt, each pair measured in the same run.

* ``floe init`` of the demo vs ``dagster-dbt project scaffold`` on the same dbt project;
* ``floe run`` of the demo vs plain ``dbt build`` of the same dbt project as a user types it
  (only ``--profiles-dir``, where floe keeps the profile: issue 27's baseline), vs ``dbt build``
  with the flags floe gives dbt, and vs ``dbtRunner`` in-process (dbt's floor: its work without
  a Python start or its imports); all keep one partial parse (log flags do not invalidate it);
* ``floe dev`` from start until the UI serves the assets.

Pairs are run alternately (A, B, A, B, …) after a warm-up of each, so that machine drift hits
both sides alike: 5 runs, ``--quick`` 1. Definitions load at scale is bench/scale.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import yaml

from bench._demo import parsed_demo
from bench._process import BIN, ENV
from bench._process import run as _run
from bench._timing import Figure, alternate, figure, seconds, with_ratio
from floe_scaffold.project import init_project
from floe_scaffold.project._instance import INSTANCE_CONFIG

FLOE_RUN = "floe run (demo)"
DBT_TYPED = "plain dbt build, as a user types it (same project)"
DBT_BUILD = "plain dbt build, floe's flags (same project)"
DBT_RUNNER = "dbt build in-process (dbtRunner, imported): the floor"


def _pair(
    name_a: str,
    action_a: Callable[[], object],
    name_b: str,
    action_b: Callable[[], object],
    runs: int,
) -> list[Figure]:
    samples = alternate({name_a: action_a, name_b: action_b}, runs=runs)
    a, b = (figure(name, seconds(values)) for name, values in samples.items())
    return [with_ratio(a, b), b]


def _demo(where: Path) -> Path:
    dest = where / "demo"
    init_project(dest, git=False)
    return dest


def _init_vs_scaffold(where: Path, runs: int) -> list[Figure]:
    demo = _demo(where)
    dbt_dir = where / "plain_dbt"
    shutil.copytree(demo / "dbt", dbt_dir)
    shutil.copy(demo / ".floe/profiles/profiles.yml", dbt_dir / "profiles.yml")
    counter = iter(range(10_000))

    def floe_init() -> None:
        _run([str(BIN / "floe"), "init", str(where / f"init_{next(counter)}")], where)

    def scaffold() -> None:
        name = f"scaffold_{next(counter)}"
        _run(
            [
                str(BIN / "dagster-dbt"),
                "project",
                "scaffold",
                "--project-name",
                name,
                "--dbt-project-dir",
                str(dbt_dir),
            ],
            where,
        )

    return _pair("floe init (demo)", floe_init, "dagster-dbt project scaffold", scaffold, runs)


def _dbt_flags(demo: Path) -> list[str]:
    """The flags ``floe run`` gives dbt: its global flags, ``--profile``/``--target`` if any."""
    from floe_scaffold._dbt_defaults import without_defaults
    from floe_scaffold.components._manifest import DBT_RUN_FLAGS

    defs = next((demo / "src").glob("*/defs/*/defs.yaml"))
    attributes = yaml.safe_load(defs.read_text(encoding="utf-8"))["attributes"]
    profile, target = without_defaults(
        demo / "dbt", demo / ".floe/profiles", attributes.get("profile"), attributes.get("target")
    )
    chosen = [
        *(["--profile", profile] if profile else []),
        *(["--target", target] if target else []),
    ]
    return [*DBT_RUN_FLAGS, "build", "--select", "fqn:*", *chosen]


def _release_duckdb() -> None:
    """Close dbt-duckdb's database in this process, which keeps it open (and locked) after dbt."""
    import gc

    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    DuckDBConnectionManager.close_all_connections()  # type: ignore[no-untyped-call]
    gc.collect()


def _run_vs_dbt_build(demo: Path, where: Path, runs: int) -> list[Figure]:
    """``floe run`` against ``dbt build`` with the same flags, and dbt in-process (the floor).

    All three share dbt's partial parse (same flags); the floor is ``dbtRunner().invoke`` in
    this process with dbt already imported: dbt's own work, without a Python start.
    """
    from dbt.cli.main import dbtRunner

    dbt_dir = demo / "dbt"
    env = {**ENV, "DAGSTER_HOME": str(where / "home")}
    (where / "home").mkdir(exist_ok=True)
    (where / "home" / "dagster.yaml").write_text(INSTANCE_CONFIG)  # as a new project has it
    profiles = ["--profiles-dir", str(demo / ".floe/profiles")]
    flags = _dbt_flags(demo)

    def in_process() -> None:
        previous = Path.cwd()
        os.chdir(dbt_dir)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                result = dbtRunner().invoke([*flags, *profiles, "--log-format", "json"])
        finally:
            os.chdir(previous)
            _release_duckdb()
        if not result.success:
            raise RuntimeError(f"dbtRunner failed: {result.exception}")

    samples = alternate(
        {
            FLOE_RUN: lambda: _run([str(BIN / "floe"), "run"], demo, env),
            DBT_TYPED: lambda: _run([str(BIN / "dbt"), "build", *profiles], dbt_dir),
            DBT_BUILD: lambda: _run([str(BIN / "dbt"), *flags, *profiles], dbt_dir),
            DBT_RUNNER: in_process,
        },
        runs=runs,
    )
    floe, typed, plain, floor = (figure(name, seconds(values)) for name, values in samples.items())
    return [
        with_ratio(floe, typed),
        with_ratio(floe, plain),
        with_ratio(plain, typed),
        with_ratio(floe, floor),
        with_ratio(plain, floor),
        floor,
    ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _dev_ready(demo: Path, runs: int, warmup: int) -> list[Figure]:
    """``demo`` has been parsed and run already (by :func:`_run_vs_dbt_build`)."""
    samples = []
    for _ in range(warmup + runs):
        port = _free_port()
        start = time.perf_counter()
        process = subprocess.Popen(
            [str(BIN / "floe"), "dev", "--port", str(port)],
            cwd=demo,
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            samples.append(_wait_for_assets(port, start))
        finally:
            _stop(process)
    return [figure("floe dev until assets are served", samples[warmup:])]


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C for `dagster dev` (its own way to stop), then SIGKILL the group if it lingers."""
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def _wait_for_assets(port: int, start: float) -> float:
    query = json.dumps({"query": "{ assetNodes { id } }"}).encode()
    while time.perf_counter() - start < 180:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/graphql",
            data=query,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
                if json.load(response)["data"]["assetNodes"]:
                    return time.perf_counter() - start
        except (OSError, KeyError, TypeError, ValueError):
            pass
        time.sleep(0.2)
    raise RuntimeError("floe dev did not serve the assets within 180 s")


def run(*, quick: bool) -> list[Figure]:
    """Measure and return the figures of this benchmark."""
    runs = 1 if quick else 5
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="floe-bench-") as scratch:
        where = Path(scratch)
        figures += _init_vs_scaffold(where, runs)
        demo = parsed_demo()
        figures += _run_vs_dbt_build(demo, where, runs)
        # --quick: one start, warmed by the runs before it only
        figures += _dev_ready(demo, 1, 0) if quick else _dev_ready(demo, 5, 1)
    return figures
