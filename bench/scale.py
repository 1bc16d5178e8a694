"""Scale series: definitions load time and peak memory, generated project vs plain dagster-dbt.

For each size (10 / 500 / 5,000 / 20,000 models; ``--quick``: 10 and 500, 2 runs, the warm-up
at the first size only) a synthetic manifest
with a realistic DAG (tests/manifests.py: staging → intermediate → marts, sources, seeds,
fan-in, ephemeral models, tests) is written into a generated project (``prepare: never``, so the
manifest is taken as it is) and next to a plain ``@dbt_assets`` module. Each load is a fresh
Python process that imports the definitions and resolves the asset graph, the work of a Dagster
code server at start-up; its wall time is taken by the parent, its peak memory (VmHWM, the RSS
high-water mark) by the process itself. Ours and plain alternate (A, B, A, B, …).
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import yaml

from bench._process import run as run_process
from bench._timing import Figure, alternate, figure, seconds, with_ratio
from floe_scaffold.project import init_project
from tests.manifests import dag_shape, synthetic_manifest, write_manifest

SIZES = (10, 500, 5_000, 20_000)
QUICK_SIZES = (10, 500)
OURS, PLAIN = "floe-scaffold", "plain dagster-dbt"
_LABELS = {
    ("load time", OURS): "definitions load",
    ("load time", PLAIN): f"{PLAIN} load",
    ("peak memory", OURS): "peak memory",
    ("peak memory", PLAIN): f"{PLAIN} peak memory",
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

# Runs in the loading process: its own RSS high-water mark, in KiB, after the load.
_PEAK = """
def _peak_kib():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak
print("peak_kib", _peak_kib())
"""


def _loaders(where: Path, models: int) -> tuple[str, str]:
    """The scripts that load ours and the plain definitions on the same manifest."""
    package = f"load{models}"
    project = where / package
    init_project(project, name=package, git=False)
    manifest = synthetic_manifest(models, seed=7)
    shape = dag_shape(manifest)
    print(
        f"  {models:,} models: {shape['sources']:.0f} sources, {shape['seeds']:.0f} seeds, "
        f"{shape['tests']:.0f} tests, {shape['ephemeral share']:.0%} ephemeral, fan-in mean "
        f"{shape['mean fan-in']:.1f} max {shape['max fan-in']:.0f}, longest chain "
        f"{shape['longest chain']:.0f}",
        flush=True,
    )
    manifest_path = write_manifest(project / "dbt", manifest)
    del manifest
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
        f"import sys; sys.path.insert(0, {str(project / 'src')!r})\n"
        f"from {package}.definitions import defs\n"
        "assert defs().resolve_asset_graph().get_all_asset_keys()\n"
    )
    theirs = (
        f"import sys; sys.path.insert(0, {str(plain)!r})\n"
        "from plain_defs import defs\n"
        "assert defs.resolve_asset_graph().get_all_asset_keys()\n"
    )
    return ours + _PEAK, theirs + _PEAK


def _load(script: str, where: Path) -> float:
    """Load once in a fresh process; its peak RSS in MiB."""
    out = run_process([sys.executable, "-c", script], where)
    kib = next(line.split()[1] for line in out.splitlines() if line.startswith("peak_kib"))
    return int(kib) / 1024


def _size(where: Path, models: int, runs: int, warmup: int) -> list[Figure]:
    ours, theirs = _loaders(where, models)
    samples = alternate(
        {OURS: lambda: _load(ours, where), PLAIN: lambda: _load(theirs, where)},
        runs=runs,
        warmup=warmup,
    )
    figures = []
    for series, unit in (("load time", "s"), ("peak memory", "MiB")):
        mine, plain = (_figure(samples[side], series, unit, models, side) for side in (OURS, PLAIN))
        figures += [with_ratio(mine, plain), plain]
    return figures


def _figure(
    samples: list[tuple[float, float]], series: str, unit: str, models: int, side: str
) -> Figure:
    values = seconds(samples) if unit == "s" else [mib for _, mib in samples]
    measured = figure(f"{_LABELS[series, side]}, {models:,} models", values, unit=unit)
    return replace(measured, series=f"{series}, {side}", models=models)


def run(*, quick: bool) -> list[Figure]:
    """Measure and return the figures of this benchmark."""
    runs = 2 if quick else 5
    sizes = QUICK_SIZES if quick else SIZES
    warmed = "the first size" if quick else "each size"
    print(
        f"scale series, sizes {', '.join(f'{size:,}' for size in sizes)}: {runs} alternating "
        f"runs after a warm-up of {warmed}",
        flush=True,
    )
    figures: list[Figure] = []
    for models in sizes:
        with tempfile.TemporaryDirectory(prefix="floe-bench-scale-") as scratch:
            warmup = 1 if not quick or models == sizes[0] else 0
            figures += _size(Path(scratch), models, runs, warmup)
    return figures
