"""Lineage logs written by floe's real recorder for a manifest (no dbt run): synthetic runs.

:func:`record_run` feeds :class:`LineageRecorder` the dbt events of a ``dbt run`` of every model
and seed of a manifest, one of them failing when asked, to a ``file`` target: the events reach
the log through the run's own transport and writer. A real run spreads its events over dbt's
time; this one makes them as fast as Python can, so it waits for the writer every
:data:`_PACE` nodes (else a burst of 10,000 would fill the dispatcher's bounded queue, whose
overflow is dropped by design), and it fails if any event was dropped. Each model's compiled SQL
is made up from its parents (a join on ``id``), so its COMPLETE carries column lineage, as a real
run's does.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from floe_scaffold._column_lineage import ColumnTracker
from floe_scaffold.lineage import LineageTarget
from floe_scaffold.lineage._recorder import DagsterRun, LineageRecorder

__all__ = ["FAILURE_MESSAGE", "record_run"]

#: The error text the failing node carries.
FAILURE_MESSAGE = "Runtime Error in model {name}: column no_such_column does not exist"
_RESULT = {"model": "LogModelResult", "seed": "LogSeedResult", "snapshot": "LogSnapshotResult"}
#: Nodes between two waits for the writer: two events each, far below the queue's 10,000.
_PACE = 1000


def record_run(
    manifest: Mapping[str, Any],
    log: Path,
    *,
    fail: str | None = None,
    dagster_job: str = "__ASSET_JOB",
    column_lineage: bool = True,
) -> str:
    """Write one run's events to ``log``; ``fail`` names a model that fails. Returns its run id.

    ``column_lineage=False`` records no column lineage (a run with ``column_lineage: false``).
    """
    columns = ColumnTracker(manifest, log.parent) if column_lineage else None
    recorder = LineageRecorder(
        target=LineageTarget("file", str(log), "floe"),
        manifest=manifest,
        profile_output={"type": "duckdb", "path": "warehouse.duckdb"},
        dbt_project_dir=log.parent,
        command="run",
        dagster_run=DagsterRun(str(uuid.uuid4()), dagster_job),
        classifications={},
        columns=columns,
    )
    target_path = log.parent / "dbt-target"
    target_path.mkdir(parents=True, exist_ok=True)
    debug_log = target_path / "dbt.log"  # dbt's JSON debug log, where FAIL's message comes from
    debug_log.write_text("", encoding="utf-8")
    recorder.start(target_path)
    nodes = [n for n in manifest["nodes"].values() if n["resource_type"] in _RESULT]
    for number, node in enumerate(nodes, start=1):
        if number % _PACE == 0:
            assert recorder.flush(120)
        info = {"unique_id": node["unique_id"], "node_started_at": "2026-01-01T00:00:00"}
        recorder.on_dbt_event({"info": {"name": "LogStartLine"}, "data": {"node_info": info}})
        failed = node["name"] == fail
        status = "error" if failed else "success"
        data = {
            "status": status,
            "node_info": {
                **info,
                "node_finished_at": "2026-01-01T00:00:01.5",
                "node_status": status,
            },
        }
        if failed:
            line = {
                "info": {"name": "CatchableExceptionOnRun"},
                "data": {
                    "node_info": {"unique_id": node["unique_id"]},
                    "exc": FAILURE_MESSAGE.format(name=fail),
                },
            }
            with debug_log.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(line) + "\n")
        if columns is not None and not failed and node["resource_type"] == "model":
            columns.record(node["unique_id"], _made_up_sql(manifest, node["unique_id"]))
        recorder.on_dbt_event({"info": {"name": _RESULT[node["resource_type"]]}, "data": data})
    recorder.finish(success=fail is None, message=None if fail is None else "dbt failed")
    assert recorder.flush(120)
    assert recorder.dispatcher.dropped == 0, f"{recorder.dispatcher.dropped} events dropped"
    return recorder.run_id


def _made_up_sql(manifest: Mapping[str, Any], unique_id: str) -> str:
    """``select a.id, a.id + b.id as v from a join b on ...`` over the node's relation parents."""
    everything = {**manifest["nodes"], **manifest.get("sources", {})}
    parents = [
        everything[parent]["relation_name"]
        for parent in manifest["parent_map"].get(unique_id, [])
        if parent in everything and everything[parent].get("relation_name")
    ][:3]
    if not parents:
        return "select 1 as id, 0 as v"
    joins = "".join(
        f" join {relation} as p{i} on p0.id = p{i}.id" for i, relation in enumerate(parents[1:], 1)
    )
    total = " + ".join(f"p{i}.id" for i in range(len(parents)))
    return f"select p0.id, {total} as v from {parents[0]} as p0{joins}"  # noqa: S608
