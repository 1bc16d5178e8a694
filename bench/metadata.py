"""What ``table_metadata`` (row counts and column types from the warehouse) costs per model.

``floe run`` of the demo (DuckDB; 8 assets: 3 seeds, 3 views, 2 tables) as generated (row counts
and column types on, the default) against the same project with
``table_metadata: {row_counts: false, column_types: false}``, alternated: the difference is the
adapter load (in a thread while dbt runs), one ``information_schema.columns`` query and one
``UNION ALL`` of counts after dbt (components/_table_metadata.py); per run and divided by the 8
assets, per model. 5 runs each after a warm-up, ``--quick`` 2. Besides wall time, the CPU time
(user + system) of ``floe run`` and every process under it, which the load of other work on the
machine changes far less.
"""

from __future__ import annotations

import resource
import shutil
import tempfile
from pathlib import Path

import yaml

from bench._demo import parsed_demo
from bench._process import BIN, ENV
from bench._process import run as _run
from bench._timing import Figure, alternate, figure, seconds, with_ratio

ASSETS = 8


def _copy(where: Path, name: str, table_metadata: dict[str, bool] | None) -> Path:
    demo = parsed_demo()
    project = where / name / demo.name
    shutil.copytree(demo, project, ignore=shutil.ignore_patterns(".dagster_home"))
    if table_metadata is not None:
        defs_yaml = project / "src" / demo.name / "defs" / "dbt_project" / "defs.yaml"
        loaded = yaml.safe_load(defs_yaml.read_text(encoding="utf-8"))
        loaded["attributes"]["table_metadata"] = table_metadata
        defs_yaml.write_text(yaml.safe_dump(loaded, sort_keys=False), encoding="utf-8")
    return project


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _floe_run(project: Path) -> float:
    """Run ``floe run`` in ``project``; the CPU seconds it and its children used."""
    before = _cpu_seconds()
    _run([str(BIN / "floe"), "run"], project, ENV)
    return _cpu_seconds() - before


def run(*, quick: bool) -> list[Figure]:
    """Measure and return the figures of this benchmark."""
    runs = 2 if quick else 5
    with tempfile.TemporaryDirectory(prefix="floe-bench-metadata-") as scratch:
        where = Path(scratch)
        on = _copy(where, "on", None)
        off = _copy(where, "off", {"row_counts": False, "column_types": False})
        samples = alternate(
            {
                "floe run, row counts and column types (default)": lambda: _floe_run(on),
                "floe run, no table metadata": lambda: _floe_run(off),
            },
            runs=runs,
        )
    with_metadata, without = (figure(name, seconds(values)) for name, values in samples.items())
    cpu_on, cpu_off = (
        figure(f"{name}: CPU", [float(cpu) for _, cpu in values])
        for name, values in samples.items()
    )
    cpu_per_run = [a - b for a, b in zip(cpu_on.samples, cpu_off.samples, strict=True)]
    per_model = [
        (a - b) / ASSETS for a, b in zip(with_metadata.samples, without.samples, strict=True)
    ]
    per_run = [a - b for a, b in zip(with_metadata.samples, without.samples, strict=True)]
    return [
        with_ratio(with_metadata, without),
        without,
        figure("table metadata cost per run (difference)", per_run),
        figure(f"table metadata cost per model (difference / {ASSETS} assets)", per_model),
        with_ratio(cpu_on, cpu_off),
        cpu_off,
        figure("table metadata CPU per run (difference)", cpu_per_run),
        figure(
            f"table metadata CPU per model (difference / {ASSETS} assets)",
            [cpu / ASSETS for cpu in cpu_per_run],
        ),
    ]
