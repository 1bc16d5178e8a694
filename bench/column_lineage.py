"""Column lineage: what reading it costs per model, on real compiled SQL (issue 30).

Usage: ``python -m bench.column_lineage [--models N] [--runs N]`` from the repository root.

Two real dbt projects are compiled with ``dbt compile`` on DuckDB (no run: the reader needs only
the SQL dbt compiled and the seeds' headers): the runnable scale project of ``bench.runs``
(``tests/runnable.py``, ``--models`` models, default 1,000: tables over a seed, then views
joining two parents) and dbt-labs' ``jaffle_shop_duckdb`` (CTEs over ``select *``, joins,
aggregates, ``select * from final``); and one wide model, made up here: 300 columns joined from
two sources through four CTEs (a ``coalesce`` per column, then ``select *`` twice), the shape
where reading lineage one column at a time copied every select per column (27 s before it was
fixed, sqlglot's ``trim_selects``). Then, ``--runs`` times (default 5), a fresh
:class:`~floe_scaffold._column_lineage.ColumnTracker` reads every model in dbt's order, as a run
does when dbt reports each built, and the CPU time of that loop is taken (``time.process_time``:
the reader runs on the run's thread, so its CPU is what it adds to a run). Printed: the median
with min-max, per model, and how many models and columns have column lineage.

The whole-run effect is the ``column lineage`` ablation row of ``python -m bench.runs`` (the
default run against ``column_lineage: false``); at 1,000 models it is within the run-to-run
noise of this machine, so the per-model CPU here is the figure to quote.
"""

from __future__ import annotations

import argparse
import graphlib
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from floe_scaffold._column_lineage import ColumnTracker, compiled_sql
from tests.helpers import JAFFLE_SHOP_DIR
from tests.project.conftest import BIN, quiet_env
from tests.runnable import runnable_project


def _compiled(dbt_dir: Path) -> dict[str, Any]:
    """``dbt compile`` of the project (its own profiles.yml); the manifest it wrote."""
    done = subprocess.run(
        [str(BIN / "dbt"), "compile", "--profiles-dir", ".", "--quiet"],
        cwd=dbt_dir,
        env=quiet_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stdout[-3000:] + done.stderr[-3000:])
    loaded: dict[str, Any] = json.loads((dbt_dir / "target" / "manifest.json").read_text("utf-8"))
    return loaded


def _in_dbt_order(manifest: dict[str, Any], dbt_dir: Path) -> list[tuple[str, str | None]]:
    graph = {node: set(parents) for node, parents in manifest["parent_map"].items()}
    order = graphlib.TopologicalSorter(graph).static_order()
    found = []
    for unique_id in order:
        node = manifest["nodes"].get(unique_id)
        if node is not None and node["resource_type"] in {"model", "snapshot"}:
            found.append((unique_id, compiled_sql(node, dbt_dir / "target", 0.0)))
    return found


def _measure(name: str, manifest: dict[str, Any], dbt_dir: Path, runs: int) -> None:
    nodes = _in_dbt_order(manifest, dbt_dir)
    seconds: list[float] = []
    read = columns = known = 0
    for _ in range(runs):
        tracker = ColumnTracker(manifest, dbt_dir)
        started = time.process_time()
        found = [tracker.record(unique_id, sql) for unique_id, sql in nodes]
        seconds.append(time.process_time() - started)
        read = sum(1 for one in found if one is not None)
        columns = sum(len(one.columns) for one in found if one is not None)
        known = sum(one.known for one in found if one is not None)
    median = statistics.median(seconds)
    print(
        f"{name}: {len(nodes)} models, {read} read, {known}/{columns} columns with lineage; "
        f"CPU {median:.3f} s ({min(seconds):.3f}-{max(seconds):.3f}), "
        f"{median / max(1, len(nodes)) * 1000:.2f} ms per model (median of {runs})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        scale = runnable_project(Path(scratch) / "scale" / "scale_dbt", models=args.models)
        _measure(f"runnable scale project ({args.models})", _compiled(scale), scale, args.runs)
        jaffle = Path(scratch) / "jaffle"
        shutil.copytree(JAFFLE_SHOP_DIR, jaffle)
        _measure("jaffle_shop_duckdb", _compiled(jaffle), jaffle, args.runs)
        wide = Path(scratch) / "wide"
        wide.mkdir()
        _measure("one wide model (300 columns)", *_wide(wide), args.runs)
    return 0


def _wide(where: Path, width: int = 300) -> tuple[dict[str, Any], Path]:
    """A manifest of two documented sources and one model over them, its compiled file."""
    columns = [f"c{i}" for i in range(width)]

    def node(unique_id: str, documented: list[str]) -> dict[str, Any]:
        kind, name = unique_id.split(".")[0], unique_id.split(".")[-1]
        return {
            "unique_id": unique_id,
            "resource_type": kind,
            "package_name": "wide",
            "name": name,
            "relation_name": f'"w"."main"."{name}"',
            "columns": {column: {"name": column} for column in documented},
            "config": {"materialized": "view"},
            "original_file_path": f"models/{name}.sql",
        }

    picked = ",\n".join(f"coalesce(a.{c}, b.{c}) as {c}" for c in columns)
    sql = (  # SQL text to read, never executed
        'with a as (select * from "w"."main"."t"), b as (select * from "w"."main"."u"),\n'  # noqa: S608
        f"j as (select {picked} from a left join b on a.c0 = b.c0),\n"
        "k as (select * from j where c1 > 0),\n"
        "l as (select *, c2 + c3 as extra from k)\nselect * from l"
    )
    compiled = where / "target" / "compiled" / "wide" / "models" / "m.sql"
    compiled.parent.mkdir(parents=True)
    compiled.write_text(sql, encoding="utf-8")
    manifest = {
        "metadata": {"adapter_type": "duckdb", "project_name": "wide"},
        "nodes": {"model.wide.m": node("model.wide.m", [])},
        "sources": {
            f"source.wide.raw.{name}": node(f"source.wide.raw.{name}", columns)
            for name in ("t", "u")
        },
        "parent_map": {"model.wide.m": ["source.wide.raw.t", "source.wide.raw.u"]},
    }
    return manifest, where


if __name__ == "__main__":
    raise SystemExit(main())
