"""The generated project against plain Dagster + dbt, each pair measured in the same run.

* ``floe init`` of the demo vs ``dagster-dbt project scaffold`` on the same dbt project;
* definitions load of the generated project vs a plain ``@dbt_assets`` module on the same
  manifest, at 10 / 500 / 5,000 models (synthetic manifests, no warehouse);
* ``floe run`` of the demo vs plain ``dbt build`` of the same dbt project;
* ``floe dev`` from start until the UI serves the assets.

Pairs are run alternately (A, B, A, B, …) so that machine drift hits both sides alike.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import yaml

from bench._timing import Figure, with_ratio
from floe_scaffold.project import init_project
from tests.manifests import synthetic_manifest, write_manifest

BIN = Path(sys.executable).parent
ENV = {
    **os.environ,
    "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "DO_NOT_TRACK": "1",
    "DAGSTER_DG_UPDATE_CHECK_ENABLED": "0",
}

_PLAIN_DEFINITIONS = """
import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

MANIFEST = {manifest!r}


@dbt_assets(manifest=MANIFEST)
def plain_dbt_assets(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    yield from dbt.cli(["build"], context=context).stream()


defs = dg.Definitions(
    assets=[plain_dbt_assets], resources={{"dbt": DbtCliResource(project_dir={project!r})}}
)
"""


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(
        command, cwd=cwd, env=env or ENV, capture_output=True, text=True, check=False, timeout=900
    )
    if done.returncode != 0:
        raise RuntimeError(f"{command} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def timed_floe_run(project: Path, env: dict[str, str]) -> float:
    """Seconds of one ``floe run`` in ``project`` with only the given OTel/OpenLineage settings."""
    clean = {k: v for k, v in ENV.items() if not k.startswith(("OTEL_", "OPENLINEAGE"))}
    start = time.perf_counter()
    _run([str(BIN / "floe"), "run"], project, {**clean, **env})
    return time.perf_counter() - start


def _pair(
    name_a: str,
    action_a: Callable[[], None],
    name_b: str,
    action_b: Callable[[], None],
    runs: int,
) -> list[Figure]:
    action_a()  # warm-up both (imports, OS caches)
    action_b()
    samples: dict[str, list[float]] = {name_a: [], name_b: []}
    for _ in range(runs):
        for name, action in ((name_a, action_a), (name_b, action_b)):
            start = time.perf_counter()
            action()
            samples[name].append(time.perf_counter() - start)
    a, b = (
        Figure(name, statistics.median(values), min(values), max(values), runs)
        for name, values in samples.items()
    )
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


def _load_vs_plain(where: Path, models: int, runs: int) -> list[Figure]:
    package = f"load{models}"
    project = where / package
    init_project(project, name=package, git=False)
    manifest_path = write_manifest(project / "dbt", synthetic_manifest(models, seed=7))
    defs_yaml = project / "src" / package / "defs/dbt_project/defs.yaml"
    config = yaml.safe_load(defs_yaml.read_text(encoding="utf-8"))
    config["attributes"]["prepare"] = "never"
    defs_yaml.write_text(yaml.safe_dump(config), encoding="utf-8")
    plain = where / f"plain{models}"
    plain.mkdir()
    (plain / "plain_defs.py").write_text(
        _PLAIN_DEFINITIONS.format(manifest=str(manifest_path), project=str(project / "dbt")),
        encoding="utf-8",
    )
    ours = (
        f"import sys; sys.path.insert(0, {str(project / 'src')!r}); "
        f"from {package}.definitions import defs; "
        "d = defs(); assert d.resolve_asset_graph().get_all_asset_keys()"
    )
    theirs = (
        f"import sys; sys.path.insert(0, {str(plain)!r}); "
        "from plain_defs import defs; assert defs.resolve_asset_graph().get_all_asset_keys()"
    )
    return _pair(
        f"definitions load, {models} models",
        lambda: _run([sys.executable, "-c", ours], where),
        f"plain dagster-dbt load, {models} models",
        lambda: _run([sys.executable, "-c", theirs], where),
        runs,
    )


def _run_vs_dbt_build(where: Path, runs: int) -> list[Figure]:
    demo = _demo(where / "run")
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


def _dev_ready(where: Path, runs: int) -> list[Figure]:
    demo = _demo(where / "dev")
    _run([str(BIN / "floe"), "run", "--select", "raw_orders"], demo)  # parse once
    samples = []
    for _ in range(runs):
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
    return [
        Figure(
            "floe dev until assets are served",
            statistics.median(samples),
            min(samples),
            max(samples),
            runs,
        )
    ]


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
    runs = 3 if quick else 5
    sizes = (10, 500) if quick else (10, 500, 5_000)
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="floe-bench-") as scratch:
        where = Path(scratch)
        figures += _init_vs_scaffold(where, runs)
        for models in sizes:
            figures += _load_vs_plain(where, models, runs)
        figures += _run_vs_dbt_build(where, runs)
        figures += _dev_ready(where, 1 if quick else 3)
    return figures
