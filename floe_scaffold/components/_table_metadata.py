"""Row counts and column types from the warehouse, for each relation a run built.

dagster-dbt's ``fetch_row_counts()`` / ``fetch_column_metadata()`` load the dbt adapter with its
macros before dbt starts, then ask the warehouse one or two queries per model, and hold every
event until they are answered. This module asks the same facts at a fraction of the cost and
holds nothing back, so it can be on by default:

* every event passes through as dbt reports it: materializations and check results reach the
  instance (and the UI) while dbt runs;
* the adapter is loaded without macros (plain SQL needs none), in a background thread while dbt
  runs, so its import and configuration overlap dbt's own work;
* once dbt has finished (DuckDB allows no second connection while dbt holds its file, and one
  round of queries is cheaper than one per model anywhere), one round asks, bounded by a time
  budget (``_metadata_round``): one query for the columns of every relation built
  (``information_schema.columns``) and one ``UNION ALL`` of ``count(*)`` for the tables whose
  row count dbt did not report (``adapter_response.rows_affected`` of a table or seed, in
  ``run_results.json``); views are not counted unless ``count_views`` (counting a view runs
  its query, and the whole chain of views under it);
* the answers follow as one ``AssetObservation`` per relation, with ``dagster/column_schema``
  and ``dagster/row_count``.

Anything the warehouse cannot answer in time (no ``information_schema``, a relation it does not
find, an in-memory DuckDB that is gone with dbt's process, the budget spent) leaves that metadata
out, with a warning in the run's log; the run itself never fails for it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field, field_validator

from floe_scaffold.components._freshness import FreshnessSource, evaluate, judge

__all__ = [
    "TableMetadataSettings",
    "TableMetadataSource",
    "freshness_results",
    "with_table_metadata",
]

_LOG = logging.getLogger(__name__)
#: Dagster's metadata keys, which the UI shows as the Columns table and the row count.
ROW_COUNT = "dagster/row_count"
COLUMN_SCHEMA = "dagster/column_schema"
#: How long to wait for a database file that dbt's exiting process still locks.
_LOCK_WAIT_SECONDS = 5.0
#: Relations counted per query: one ``UNION ALL`` of at most this many ``count(*)`` (small
#: enough that a round cut by its budget keeps what it had counted).
_COUNTS_PER_QUERY = 50
#: Relations whose columns are asked per query (``in`` lists of at most this many names).
_NAMES_PER_QUERY = 500
#: The default budget of the metadata round: this share of dbt's own time, at least the floor.
BUDGET_SHARE = 0.2
BUDGET_FLOOR_SECONDS = 10.0
#: Materializations whose ``rows_affected`` is the relation's row count (the whole relation is
#: written); an incremental model or snapshot reports only the rows of this run.
_WHOLE_WRITES = {"table", "seed"}


class TableMetadataSettings(dg.Model):
    """What the warehouse is asked about each relation dbt built, and how long it may take."""

    row_counts: bool = Field(
        default=True,
        description="Row count of each table built (`dagster/row_count`): what dbt reported, "
        "else one batched `count(*)`.",
    )
    count_views: bool = Field(
        default=False,
        description="Count the rows of views too (off by default: counting a view runs its "
        "query, and every view under it).",
    )
    column_types: bool = Field(
        default=True,
        description="Column names and types as the warehouse has them (`dagster/column_schema`).",
    )
    budget_seconds: float | None = Field(
        default=None,
        description="Longest the warehouse may take to answer, after dbt (unset: 20 % of "
        "dbt's own time, at least 10 s); what is not answered by then is left out.",
    )

    @field_validator("budget_seconds")
    @classmethod
    def check_budget(cls, value: float | None) -> float | None:
        if value is not None and not 0 < value <= 3600:
            raise ValueError(f"{value} s is out of range: more than 0 and at most 3600 s")
        return value

    @property
    def enabled(self) -> bool:
        """Whether anything is asked of the warehouse."""
        return self.row_counts or self.column_types

    def wanted(self, view: bool, reported_rows: int | None) -> set[str]:
        """The metadata keys a relation gets: columns, and a row count (dbt's, or counted)."""
        counted = self.row_counts and (reported_rows is not None or self.count_views or not view)
        return {
            key
            for key, asked in ((COLUMN_SCHEMA, self.column_types), (ROW_COUNT, counted))
            if asked
        }

    def budget(self, dbt_seconds: float) -> float:
        """Seconds the metadata round may take after a dbt invocation of ``dbt_seconds``."""
        if self.budget_seconds is not None:
            return self.budget_seconds
        return max(BUDGET_FLOOR_SECONDS, BUDGET_SHARE * dbt_seconds)


@dataclass(frozen=True)
class TableMetadataSource:
    """Where dbt's adapter finds the warehouse: the dbt project and the profile it runs with."""

    project_dir: Path
    profiles_dir: Path
    profile: str | None
    target: str | None


@dataclass(frozen=True)
class _Relation:
    """One relation dbt built: how to name it in SQL and how ``information_schema`` lists it."""

    unique_id: str
    relation_name: str
    database: str
    schema: str
    identifier: str
    view: bool
    #: The row count dbt reported for it (a table or seed written whole), if any.
    reported_rows: int | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.schema.lower(), self.identifier.lower())


def with_table_metadata(
    events: Iterator[Any],
    *,
    settings: TableMetadataSettings,
    source: TableMetadataSource,
    manifest: Mapping[str, Any],
    target_path: Path,
    asset_key_of: Callable[[Mapping[str, Any]], dg.AssetKey],
) -> Iterator[Any]:
    """``events`` as dbt reports them, then an observation of each relation this run built.

    ``target_path`` is the invocation's dbt target folder (its ``run_results.json`` has the row
    counts dbt reported); ``asset_key_of`` maps a manifest node to its asset key.
    """
    if not settings.enabled:
        yield from events
        return
    from floe_scaffold.components._metadata_round import MetadataRound

    loader = _AdapterLoader(source)
    loader.start()
    built: list[str] = []
    failure: Exception | None = None
    started = time.monotonic()
    try:
        for event in events:
            yield event
            unique_id = _unique_id(event)
            if unique_id is not None:
                built.append(unique_id)
    except Exception as error:  # noqa: BLE001 - re-raised below, after what dbt did build
        failure = error
    budget = settings.budget(time.monotonic() - started)
    relations = _relations(built, manifest, _reported_rows(target_path))
    if relations:
        metadata = MetadataRound(loader, relations, settings).answers(budget)
        nodes = manifest.get("nodes", {})
        for relation in relations:
            extra = metadata.get(relation.unique_id)
            if extra:
                key = asset_key_of(nodes[relation.unique_id])
                yield dg.AssetObservation(asset_key=key, metadata=extra)
    if failure is not None:
        raise failure


def freshness_results(
    source: TableMetadataSource, sources: Sequence[FreshnessSource]
) -> list[dg.AssetCheckResult]:
    """The ``source_freshness`` results of ``sources``, asked in one connection (``_freshness``).

    Never raises: a warehouse that cannot be reached makes each a failed WARN result saying why.
    """
    problem = "an in-memory DuckDB: its tables went with dbt's process"
    try:
        adapter = load_adapter(source)
    except Exception as error:  # noqa: BLE001 - any adapter's failure is reported, not raised
        adapter, problem = None, f"cannot load the dbt adapter of the profile: {error}"
    if adapter is not None:
        try:
            with _connected(adapter):
                return evaluate(adapter, sources, datetime.now(timezone.utc))
        except Exception as error:  # noqa: BLE001 - reported in each result below
            problem = f"the warehouse connection failed: {error}"
        finally:
            _release(adapter)
    now = datetime.now(timezone.utc)
    return [judge(one, None, now, problem=problem) for one in sources]


@contextmanager
def _connected(adapter: Any) -> Iterator[None]:
    """The adapter's connection open, once the database lets a reader in."""
    with adapter.connection_named("floe_table_metadata"):
        _wait_for_the_database(adapter)
        yield


def _release(adapter: Any) -> None:
    """Close the adapter's connections, so that the next dbt in this process can open the database.

    dbt-duckdb keeps its database open for the process (a class-level environment), even after
    ``cleanup_connections``; DuckDB would then refuse the next dbt process the file.
    """
    try:
        adapter.cleanup_connections()
        manager = type(adapter.connections)
        environment = getattr(manager, "_ENV", None)
        if environment is not None:
            environment.close()
            manager.close_all_connections()
    except Exception as error:  # noqa: BLE001 - closing is best effort; say why it failed
        _LOG.warning("floe: closing the table metadata connection failed: %s", error)


def _unique_id(event: Any) -> str | None:
    if not isinstance(event, (dg.Output, dg.AssetMaterialization)):
        return None
    value = (event.metadata or {}).get("unique_id")
    text = getattr(value, "text", value)
    return text if isinstance(text, str) else None


def _reported_rows(target_path: Path) -> dict[str, int]:
    """``adapter_response.rows_affected`` of each node in ``run_results.json``, by unique id."""
    try:
        results = json.loads((target_path / "run_results.json").read_text(encoding="utf-8"))
        entries = results.get("results", [])
    except (OSError, ValueError, AttributeError):
        return {}
    reported: dict[str, int] = {}
    for entry in entries if isinstance(entries, list) else []:
        response = entry.get("adapter_response") if isinstance(entry, dict) else None
        rows = response.get("rows_affected") if isinstance(response, dict) else None
        if isinstance(rows, int) and not isinstance(rows, bool) and rows >= 0:
            reported[str(entry.get("unique_id"))] = rows
    return reported


def _relations(
    unique_ids: Iterable[str], manifest: Mapping[str, Any], reported: Mapping[str, int]
) -> list[_Relation]:
    nodes = manifest.get("nodes", {})
    relations = []
    for unique_id in dict.fromkeys(unique_ids):
        node = nodes.get(unique_id)
        if not node or not node.get("relation_name"):
            continue
        materialized = str((node.get("config") or {}).get("materialized") or "")
        whole = materialized in _WHOLE_WRITES or node.get("resource_type") == "seed"
        relations.append(
            _Relation(
                unique_id=str(node["unique_id"]),
                relation_name=str(node["relation_name"]),
                database=str(node.get("database") or ""),
                schema=str(node.get("schema") or ""),
                identifier=str(node.get("alias") or node.get("name")),
                view=materialized == "view",
                reported_rows=reported.get(unique_id) if whole else None,
            )
        )
    return relations


def _ask(
    adapter: Any,
    relations: Sequence[_Relation],
    settings: TableMetadataSettings,
    found: dict[str, dict[str, Any]] | None = None,
    *,
    stop: threading.Event | None = None,
    on_open: Callable[[Any], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """The metadata of each relation, by unique id: one query for columns, one for counts.

    Answers go into ``found`` as they come (a round cut short keeps what it had); once ``stop``
    is set no further query is asked and a failed one is not reported. ``on_open`` is given
    dbt's connection once it is open (to cancel its query from another thread).
    """
    found = {} if found is None else found
    stop = stop or threading.Event()
    with _connected(adapter):
        if on_open is not None:
            on_open(adapter.connections.get_thread_connection())
        if settings.column_types and not stop.is_set():
            columns = _columns(adapter, relations, stop)
            for relation in relations:
                listed = columns.get(relation.key)
                if listed:
                    schema = dg.TableSchema(
                        columns=[dg.TableColumn(name, type_) for name, type_ in listed]
                    )
                    entry = found.setdefault(relation.unique_id, {})
                    entry[COLUMN_SCHEMA] = dg.MetadataValue.table_schema(schema)
        if settings.row_counts:
            for relation in relations:
                if relation.reported_rows is not None:
                    entry = found.setdefault(relation.unique_id, {})
                    entry[ROW_COUNT] = dg.MetadataValue.int(relation.reported_rows)
            counted = [
                r
                for r in relations
                if r.reported_rows is None and ROW_COUNT in settings.wanted(r.view, None)
            ]
            for unique_id, count in _counts(adapter, counted, stop):
                found.setdefault(unique_id, {})[ROW_COUNT] = dg.MetadataValue.int(count)
    return found


def _wait_for_the_database(adapter: Any) -> None:
    """Open the connection, waiting a few seconds while dbt's process still holds a lock.

    A DuckDB file stays locked until the dbt process that wrote it has exited, which may be a
    moment after its output ended.
    """
    deadline = time.monotonic() + _LOCK_WAIT_SECONDS
    while True:
        try:
            adapter.execute("select 1", fetch=True)
        except Exception as error:  # noqa: PERF203 - a retry loop: the error is the signal
            if "lock" not in str(error).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.1)
        else:
            return


def _columns(
    adapter: Any, relations: Sequence[_Relation], stop: threading.Event
) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(name, type) of the columns of each relation, in order, from ``information_schema``."""
    names = sorted({relation.identifier.lower() for relation in relations})
    schemas = sorted({relation.schema.lower() for relation in relations})
    wanted = {relation.key for relation in relations}
    listed: dict[tuple[str, str], list[tuple[int, str, str]]] = {}
    for start in range(0, len(names), _NAMES_PER_QUERY):
        chunk = names[start : start + _NAMES_PER_QUERY]
        sql = (
            "select table_schema, table_name, column_name, data_type, ordinal_position "  # noqa: S608 - names from dbt's manifest, as quoted literals
            "from information_schema.columns "
            f"where lower(table_schema) in ({_literals(schemas)}) "
            f"and lower(table_name) in ({_literals(chunk)})"
        )
        rows = _fetch(adapter, sql, "column types", stop)
        for schema, table, column, data_type, position in rows:
            key = (str(schema).lower(), str(table).lower())
            if key in wanted:
                listed.setdefault(key, []).append((int(position), str(column), str(data_type)))
    return {
        key: [(name, type_) for _, name, type_ in sorted(columns)]
        for key, columns in listed.items()
    }


def _counts(
    adapter: Any, relations: Sequence[_Relation], stop: threading.Event
) -> Iterator[tuple[str, int]]:
    """(unique id, row count) of each relation, one ``UNION ALL`` per 50 relations at a time."""
    for start in range(0, len(relations), _COUNTS_PER_QUERY):
        if stop.is_set():
            return
        chunk = relations[start : start + _COUNTS_PER_QUERY]
        sql = " union all ".join(
            f"select {index} as floe_index, count(*) as floe_rows from {relation.relation_name}"  # noqa: S608 - dbt's own quoted relation name
            for index, relation in enumerate(chunk)
        )
        for index, rows in _fetch(adapter, sql, "row counts", stop):
            yield chunk[int(index)].unique_id, int(rows)


def _literals(values: Iterable[str]) -> str:
    """SQL string literals of ``values`` (names from dbt's manifest), quotes doubled."""
    return ", ".join("'" + value.replace("'", "''") + "'" for value in values)


def _fetch(adapter: Any, sql: str, what: str, stop: threading.Event) -> list[tuple[Any, ...]]:
    if stop.is_set():
        return []
    try:
        _, table = adapter.execute(sql, fetch=True)
    except Exception as error:  # noqa: BLE001 - any adapter's error only drops the metadata
        if stop.is_set():  # cancelled: the round says why
            return []
        _LOG.warning("floe: the warehouse did not answer the %s query (%s); left out", what, error)
        return []
    return [tuple(row) for row in table.rows]


class _AdapterLoader:
    """The dbt adapter of the project's profile, loaded in a thread while dbt runs."""

    def __init__(self, source: TableMetadataSource) -> None:
        self._source = source
        self._adapter: Any = None
        self._thread = threading.Thread(target=self._load, name="floe-adapter", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def result(self) -> Any:
        self._thread.join()
        return self._adapter

    def _load(self) -> None:
        try:
            self._adapter = load_adapter(self._source)
        except Exception as error:  # noqa: BLE001 - any failure only drops the metadata
            _LOG.warning("floe: cannot load the dbt adapter for table metadata: %s", error)


def load_adapter(source: TableMetadataSource) -> Any:
    """The dbt adapter for ``source``'s profile, registered without macros (plain SQL only).

    A DuckDB file is opened read-only, its relative path resolved from the dbt project (as dbt
    resolves it); an in-memory DuckDB gives None (its tables went with dbt's process).
    """
    import os
    from argparse import Namespace

    from dbt.adapters.factory import get_adapter, register_adapter, reset_adapters
    from dbt.config.runtime import RuntimeConfig, load_profile, load_project
    from dbt.flags import get_flags, set_from_args
    from dbt.mp_context import get_mp_context
    from dbt_common.context import set_invocation_context
    from dbt_common.events.event_manager_client import cleanup_event_logger

    set_invocation_context(os.environ.copy())
    project_dir = str(source.project_dir)
    set_from_args(Namespace(profiles_dir=str(source.profiles_dir)), None)
    profile = load_profile(project_dir, {}, source.profile, source.target)
    project = load_project(project_dir, False, profile, {})
    config = RuntimeConfig.from_parts(project, profile, get_flags())  # type: ignore[no-untyped-call]
    credentials: Any = config.credentials
    if type(credentials).__name__ == "DuckDBCredentials":
        path = str(getattr(credentials, "path", "") or ":memory:")
        if path == ":memory:" or path.startswith(("md:", "motherduck:")):
            return None
        options = dict(getattr(credentials, "config_options", None) or {})
        options["access_mode"] = "READ_ONLY"
        credentials.config_options = options
        credentials.path = str((source.project_dir / path).resolve())
    elif type(credentials).__name__ == "SparkCredentials" and str(credentials.method) == "session":
        # A local session keeps its metastore and warehouse in the working directory, which
        # for dbt (run by dagster-dbt) is the dbt project: open the same ones from here.
        where = source.project_dir.resolve()
        parameters = dict(getattr(credentials, "server_side_parameters", None) or {})
        parameters.setdefault("spark.sql.warehouse.dir", str(where / "spark-warehouse"))
        parameters.setdefault(
            "spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={where / 'metastore_db'};create=true",
        )
        credentials.server_side_parameters = parameters
    cleanup_event_logger()  # dbt's "Registered adapter" line is not the run's
    reset_adapters()  # type: ignore[no-untyped-call]
    register_adapter(config, get_mp_context())
    return get_adapter(config)
