"""How much of a run's models and columns floe's ``columnLineage`` covers, against the warehouse.

The denominator is what exists: every model and snapshot a run built (its COMPLETE event's
output) and every column its relation has in the warehouse (``information_schema.columns``, asked
by the test itself), so an output column floe failed to name counts as uncovered.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The job types whose outputs are relations built from SQL (seeds are read from files).
_BUILT = {"MODEL", "SNAPSHOT"}


@dataclass
class Coverage:
    """Models and columns built, and those with column lineage."""

    models: int = 0
    models_traced: int = 0
    columns: int = 0
    columns_traced: int = 0
    #: Of the traced columns, those made from at least one input column (not a literal).
    columns_with_inputs: int = 0
    untraced: list[str] = field(default_factory=list)

    @property
    def model_share(self) -> float:
        return self.models_traced / self.models if self.models else 0.0

    @property
    def column_share(self) -> float:
        return self.columns_traced / self.columns if self.columns else 0.0

    def __str__(self) -> str:
        return (
            f"{self.models_traced}/{self.models} models ({self.model_share:.0%}), "
            f"{self.columns_traced}/{self.columns} columns ({self.column_share:.0%}; "
            f"{self.columns_with_inputs} from input columns)"
        )


def events_of(log: Path) -> list[dict[str, Any]]:
    """The events of a local lineage log (``.floe/lineage/events.jsonl``)."""
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]


def built_outputs(events: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The output dataset of every model and snapshot job that COMPLETEd, by dataset name."""
    found: dict[str, Mapping[str, Any]] = {}
    for event in events:
        job_type = event["job"].get("facets", {}).get("jobType", {}).get("jobType")
        if event["eventType"] == "COMPLETE" and job_type in _BUILT:
            for output in event.get("outputs") or []:
                found[str(output["name"]).lower()] = output
    return found


def coverage(
    events: Iterable[Mapping[str, Any]], warehouse: Mapping[str, Iterable[str]]
) -> Coverage:
    """The share of built models and of their warehouse columns that have column lineage.

    A column has lineage when the facet names it, with its input columns or with none (a
    column made from a literal reads no column).

    ``warehouse`` maps ``database.schema.table`` (lower case) to the relation's columns.
    """
    found = Coverage()
    for name, output in sorted(built_outputs(events).items()):
        columns = {str(column).lower() for column in warehouse[name]}
        facet = (output.get("facets") or {}).get("columnLineage") or {}
        fields = {str(column).lower(): one for column, one in (facet.get("fields") or {}).items()}
        traced = set(fields) & columns
        found.models += 1
        found.models_traced += bool(traced)
        found.columns += len(columns)
        found.columns_traced += len(traced)
        found.columns_with_inputs += sum(1 for c in traced if fields[c]["inputFields"])
        found.untraced.extend(f"{name}.{column}" for column in sorted(columns - traced))
    return found


def duckdb_columns(path: Path) -> dict[str, list[str]]:
    """``database.schema.table`` -> columns of every relation in a DuckDB file (read only)."""
    import duckdb

    with duckdb.connect(str(path), read_only=True) as db:
        rows = db.execute(
            "select table_catalog, table_schema, table_name, column_name "
            "from information_schema.columns order by ordinal_position"
        ).fetchall()
    return _by_relation(rows)


def postgres_columns(cursor: Any) -> dict[str, list[str]]:
    """The same for the PostgreSQL database ``cursor`` is connected to."""
    cursor.execute(
        "select table_catalog, table_schema, table_name, column_name "
        "from information_schema.columns "
        "where table_schema not in ('pg_catalog', 'information_schema') "
        "order by ordinal_position"
    )
    return _by_relation(cursor.fetchall())


def _by_relation(rows: Iterable[tuple[Any, ...]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for database, schema, table, column in rows:
        found.setdefault(f"{database}.{schema}.{table}".lower(), []).append(str(column))
    return found


def materialized_column_lineage(home: Path) -> dict[str, dict[str, list[str]]]:
    """``unique_id`` -> column -> input column names, from the latest materialization of every
    asset in the Dagster instance at ``home`` that carries ``dagster/column_lineage``."""
    import dagster as dg

    found: dict[str, dict[str, list[str]]] = {}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for key in instance.get_asset_keys():
            event = instance.get_latest_materialization_event(key)
            materialization = event.asset_materialization if event else None
            if materialization is None:
                continue
            metadata = materialization.metadata
            lineage = metadata.get("dagster/column_lineage")
            unique_id = metadata.get("unique_id")
            if lineage is None or unique_id is None:
                continue
            value = lineage.value
            assert isinstance(value, dg.TableColumnLineage), value
            found[str(getattr(unique_id, "text", unique_id))] = {
                column: sorted(dep.column_name for dep in deps)
                for column, deps in value.deps_by_column.items()
            }
    return found


def assert_dagster_matches_facets(
    events: Iterable[Mapping[str, Any]], manifest: Mapping[str, Any], home: Path
) -> int:
    """Every materialization's ``dagster/column_lineage`` is its COMPLETE event's facet.

    Each column's input column names must equal the facet's (the facet may name more columns:
    a relation that is no asset). Returns how many materializations carried column lineage.
    """
    outputs = built_outputs(events)
    materialized = materialized_column_lineage(home)
    for unique_id, columns in materialized.items():
        node = manifest["nodes"][unique_id]
        name = ".".join(str(node[k]) for k in ("database", "schema", "alias")).lower()
        fields = outputs[name]["facets"]["columnLineage"]["fields"]
        for column, inputs in columns.items():
            theirs = sorted(str(one["field"]) for one in fields[column]["inputFields"])
            assert inputs == theirs, (unique_id, column, inputs, theirs)
    return len(materialized)
