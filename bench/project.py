"""The generated project against plain Dagster + dbt, each pair measured in the same run.

* ``floe init`` of the demo vs ``dagster-dbt project scaffold`` on the same dbt project;
* ``floe run`` of the demo vs plain ``dbt build`` of the same dbt project;
* ``floe dev`` from start until the UI serves the assets.

Pairs are run alternately (A, B, A, B, …) after a warm-up of each, so that machine drift hits
both sides alike: 5 runs, ``--quick`` 1. Definitions load at scale is bench/scale.py.
"""

from __future__ import annotations

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

from bench._demo import parsed_demo
from bench._process import BIN, ENV
from bench._process import run as _run
from bench._timing import Figure, alternate, figure, seconds, with_ratio
from floe_scaffold.project import init_project


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


def _run_vs_dbt_build(demo: Path, where: Path, runs: int) -> list[Figure]:
    dbt_dir = demo / "dbt"
    env = {**ENV, "DAGSTER_HOME": str(where / "home")}
    (where / "home").mkdir(exist_ok=True)
    (where / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return _pair(
        "floe run (demo)",
        lambda: _run([str(BIN / "floe"), "run"], demo, env),
        "plain dbt build (same project)",
        lambda: _run(
            [str(BIN / "dbt"), "build", "--profiles-dir", str(demo / ".floe/profiles")], dbt_dir
        ),
        runs,
    )


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
