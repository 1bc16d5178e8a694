"""What ``table_metadata`` (row counts and column types from the warehouse) costs per model.

``floe run`` of the demo (DuckDB; 8 assets: 3 seeds, 3 views, 2 tables) with
``table_metadata: {row_counts: true, column_types: true}`` against the same project without it,
alternated: the difference is the in-process adapter load plus one query per table for its row
count and one per asset for its columns; divided by the 8 assets, the cost per model. 5 runs each
after a warm-up, ``--quick`` 2.
"""

from __future__ import annotations

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


def run(*, quick: bool) -> list[Figure]:
    """Measure and return the figures of this benchmark."""
    runs = 2 if quick else 5
    with tempfile.TemporaryDirectory(prefix="floe-bench-metadata-") as scratch:
        where = Path(scratch)
        on = _copy(where, "on", {"row_counts": True, "column_types": True})
        off = _copy(where, "off", None)
        samples = alternate(
            {
                "floe run, row counts and column types": lambda: _run(
                    [str(BIN / "floe"), "run"], on, ENV
                ),
                "floe run, no table metadata": lambda: _run([str(BIN / "floe"), "run"], off, ENV),
            },
            runs=runs,
        )
    with_metadata, without = (figure(name, seconds(values)) for name, values in samples.items())
    per_model = [
        (a - b) / ASSETS for a, b in zip(with_metadata.samples, without.samples, strict=True)
    ]
    return [
        with_ratio(with_metadata, without),
        without,
        figure(f"table metadata cost per model (difference / {ASSETS} assets)", per_model),
    ]
