"""Scale series: definitions load time and peak memory, generated project vs plain dagster-dbt.

For each size (10 / 500 / 5,000 / 10,000 / 20,000 / 50,000 models; ``--quick``: 10 and 500,
2 runs, the warm-up at the first size only) a synthetic manifest
with a realistic DAG (tests/manifests.py: staging → intermediate → marts, sources, seeds,
fan-in, ephemeral models, tests) is written into a generated project (``prepare: never``, so the
manifest is taken as it is) and next to a plain ``@dbt_assets`` module. Each load is a fresh
Python process that imports the definitions and resolves the asset graph, the work of a Dagster
code server at start-up; its wall time is taken by the parent, its peak memory (VmHWM, the RSS
high-water mark) and CPU seconds (user + system, steadier than wall time on a shared machine)
by the process itself. Ours is measured cold (its spec cache emptied first, as after a new
manifest) and warm (the entry the cold load wrote, as every later process of a code server,
``dg`` or ``dagster dev``). A fourth load, the floor, is the least any Components load of the
same assets does here: the imports (the Components framework imports every installed plugin
library, so dagster-dbt and dbt), the specs read from the same entry, and Dagster's own work on
them; no load of ours can be faster than it. Cold, warm, plain and floor alternate (A, B, C, D,
A, …). From 20,000 models on, fewer runs and no warm-up (a plain load of 50,000 models takes
tens of minutes).

Alone, for a few sizes: ``python -m bench.scale --sizes 5000,20000 --runs 3`` (the table, the
growth and the ratios; the record goes to ``bench/results/scale.json``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import yaml

from bench._process import run as run_process
from bench._timing import Figure, alternate, figure, seconds, with_ratio
from floe_scaffold.components._assets import CACHE_FOLDER
from floe_scaffold.project import init_project
from tests.manifests import dag_shape, synthetic_manifest, write_manifest

SIZES = (10, 500, 5_000, 10_000, 20_000, 50_000)
QUICK_SIZES = (10, 500)
LARGE = 20_000  # from this size on: at most 3 runs, no warm-up
HUGE = 50_000  # and at this one, 1 run
COLD, WARM, PLAIN = "floe-scaffold cold", "floe-scaffold warm", "plain dagster-dbt"
FLOOR = "Dagster floor"
SIDES = (COLD, WARM, PLAIN, FLOOR)
#: per quantity: its unit and the index of its value in a load's (wall, (MiB, CPU s)) sample
QUANTITIES = {"load time": "s", "load CPU time": "s", "peak memory": "MiB"}
_LABELS = {
    "load time": "load",
    "load CPU time": "load CPU",
    "peak memory": "peak memory",
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

# The least any Components load of these assets does here: the imports every Components load
# makes (its plugin discovery imports each installed library: dagster-dbt, so dbt), the specs
# read from our cache entry, and Dagster's own work on them (the multi-asset, the definitions,
# the asset graph), with the Dagster workarounds and no GC pauses, as ours. No component, no
# metadata rewrite, no checks of sources, no resources: what ours adds shows as the gap.
_FLOOR_DEFINITIONS = """
from pathlib import Path

import dagster as dg
from dagster.components.core.package_entry import discover_entry_point_package_objects

from floe_scaffold.components._assets import paused_gc
from floe_scaffold.components._dagster_workaround import install_workaround
from floe_scaffold.components._spec_cache import CacheEntries, load_specs

discover_entry_point_package_objects()
install_workaround()
entries = CacheEntries(Path({cache!r}))
(entry,) = entries.folder.glob("*.json")
live = dict.fromkeys(
    ("dagster_dbt/manifest", "dagster_dbt/dagster_dbt_translator", "dagster_dbt/project"), ""
)
with paused_gc():
    specs, checks, *_ = load_specs(entries, entry.stem, live)

    @dg.multi_asset(
        name="dbt_build",
        specs=specs,
        check_specs=checks,
        can_subset=True,
        allow_arbitrary_check_specs=True,
    )
    def assets(context):
        yield from ()

assert dg.Definitions(assets=[assets]).resolve_asset_graph().get_all_asset_keys()
"""

# Runs in the loading process: its own RSS high-water mark, in KiB, after the load.
_PEAK = """
import resource
def _peak_kib():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak
print("peak_kib", _peak_kib())
_usage = resource.getrusage(resource.RUSAGE_SELF)
print("cpu_s", _usage.ru_utime + _usage.ru_stime)
"""


def _loaders(where: Path, models: int) -> tuple[str, str, str, Path]:
    """The scripts that load ours, the plain definitions and the floor; and our cache folder."""
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
    cache = project / "dbt" / "target" / CACHE_FOLDER
    floor = _FLOOR_DEFINITIONS.format(cache=str(cache))
    return ours + _PEAK, theirs + _PEAK, floor + _PEAK, cache


def _load(script: str, where: Path) -> tuple[float, float]:
    """Load once in a fresh process; its peak RSS in MiB and its CPU seconds."""
    out = run_process([sys.executable, "-c", script], where)
    found = dict(
        line.split()[:2] for line in out.splitlines() if line.startswith(("peak_", "cpu_"))
    )
    return int(found["peak_kib"]) / 1024, float(found["cpu_s"])


def _cold(script: str, where: Path, cache: Path) -> tuple[float, float]:
    shutil.rmtree(cache, ignore_errors=True)
    return _load(script, where)


def _size(where: Path, models: int, runs: int, warmup: int) -> list[Figure]:
    ours, theirs, floor, cache = _loaders(where, models)
    samples = alternate(
        {
            COLD: lambda: _cold(ours, where, cache),
            WARM: lambda: _load(ours, where),  # the entry the cold load just wrote
            PLAIN: lambda: _load(theirs, where),
            FLOOR: lambda: _load(floor, where),  # the same entry
        },
        runs=runs,
        warmup=warmup,
    )
    figures = []
    for quantity, unit in QUANTITIES.items():
        cold, warm, plain, least = (
            _figure(samples[side], quantity, unit, models, side) for side in SIDES
        )
        figures += [
            with_ratio(cold, plain),
            with_ratio(warm, plain),
            plain,
            with_ratio(least, plain),
        ]
    print(f"  {models:,} models measured; load average {_load_average()}", flush=True)
    return figures


def _figure(
    samples: list[tuple[float, tuple[float, float]]],
    quantity: str,
    unit: str,
    models: int,
    side: str,
) -> Figure:
    if quantity == "load time":
        values = seconds(samples)
    else:
        values = [value[0 if quantity == "peak memory" else 1] for _, value in samples]
    label = f"{_LABELS[quantity]}, {side}, {models:,} models"
    return replace(figure(label, values, unit=unit), series=f"{quantity}, {side}", models=models)


def _load_average() -> str:
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def _plan(models: int, runs: int, *, quick: bool, first: bool) -> tuple[int, int]:
    """(runs, warm-ups) at a size: fewer and none for the large sizes, as said above."""
    if models >= HUGE:
        return 1, 0
    if models >= LARGE:
        return min(runs, 3), 0
    return runs, 1 if (not quick or first) else 0


def run(
    *, quick: bool, sizes: tuple[int, ...] | None = None, runs: int | None = None
) -> list[Figure]:
    """Measure and return the figures of this benchmark."""
    runs = runs or (2 if quick else 5)
    sizes = sizes or (QUICK_SIZES if quick else SIZES)
    print(
        f"scale series, sizes {', '.join(f'{size:,}' for size in sizes)}: {runs} alternating "
        f"runs (cold, warm, plain, floor) after a warm-up at each size below {LARGE:,} "
        f"{'(the first only)' if quick else ''}; load average {_load_average()}",
        flush=True,
    )
    figures: list[Figure] = []
    for models in sizes:
        with tempfile.TemporaryDirectory(prefix="floe-bench-scale-") as scratch:
            size_runs, warmup = _plan(models, runs, quick=quick, first=models == sizes[0])
            figures += _size(Path(scratch), models, size_runs, warmup)
    return figures


def main(argv: list[str] | None = None) -> int:
    """Measure some sizes alone; print the table, growth and targets; write scale.json."""
    from bench._machine import machine
    from bench._results import print_growth, write
    from bench._table import table

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default=",".join(str(size) for size in SIZES))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    sizes = tuple(int(size) for size in args.sizes.split(","))
    date, where = time.strftime("%Y-%m-%d %H:%M %Z"), machine()
    print(f"{date} on {where}; load average {_load_average()}", flush=True)
    started = time.perf_counter()
    figures = run(quick=False, sizes=sizes, runs=args.runs)
    print(table(figures) + "\n")
    print_growth(figures)
    record = {
        "date": date,
        "machine": where,
        "quick": False,
        "suites": ["scale"],
        "sizes": list(sizes),
        "seconds": round(time.perf_counter() - started, 1),
        "load_average_at_end": _load_average(),
        "failed": {},
    }
    write("scale", record, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
