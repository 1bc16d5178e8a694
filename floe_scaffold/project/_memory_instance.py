"""The in-memory Dagster instance ``floe run`` executes on, with an event log that writes cheaply.

Dagster's ephemeral instance keeps its event log in an in-memory SQLite database, but opens a
new connection for every event it stores (``InMemoryEventLogStorage._connect``: a connection
from a ``NullPool``, two ``PRAGMA`` statements, a transaction, closed again). A run stores
several events per dbt node before and while dbt works: one ``ASSET_MATERIALIZATION_PLANNED``
per asset and one ``ASSET_CHECK_EVALUATION_PLANNED`` per check when the run is created (all of
them before the step starts, so before dbt's first node), then the step's own. On a 300-model
project (600 assets and checks) the planned events alone took 2.8 s of the run's start.

:class:`_HeldConnectionEventLog` stores every event through the one connection the storage
already holds for its life, inside a transaction as before, under the storage's own lock: the
same rows, written by the same code, without a connection per event; and it asks its schema
(which tables, which columns: made once, when the storage is) once instead of per event. Where
this Dagster's in-memory storage has no held connection, the stock instance is used. On that
project the run's start (until dbt's first line) went from 8.3 s to about 5 s.

It also keeps only what a run reads back while it runs. Every event still passes through
``handle_new_event``, so the run's listeners (the recorder that copies the run into the project's
instance, the progress lines, the step log) see them all, and the run's result holds them all; the
storage skips the events nothing reads during a run (:data:`_NOT_READ_DURING_A_RUN`):

* the planned events (``ASSET_MATERIALIZATION_PLANNED``, ``ASSET_CHECK_EVALUATION_PLANNED``: one
  per selected asset and check, written before dbt's first node, read only by the UI and the
  daemon of the instance the recorder writes to);
* ``STEP_OUTPUT`` (one per asset and per check of the dbt step): Dagster reads them back only to
  re-execute a run from failure, from the instance the run was recorded in;
* ``ASSET_CHECK_EVALUATION``: read by the UI, the daemon's automation conditions and freshness
  sensors, never by the run that made them (a blocking check stops its step from the step's own
  results, not from storage);
* plain log lines (``context.log`` messages, one per dbt node).

What a run or the user's code may read stays: materializations and observations (the data
versions of a step's inputs, the target of a check), step and run events. On a 1,000-model
project that is 6,007 of 8,018 events not stored, most of them while dbt works; ``floe run``'s
own process then spends about 3 s (a tenth) less CPU (27.3 s against 30.7 s, medians of 2
alternated runs, 2026-12-07). A run someone watches (``watch``, as a UI on this instance would)
is stored whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["memory_instance"]

#: Dagster event types a run never reads back from its own instance while it runs.
_NOT_READ_DURING_A_RUN = frozenset(
    {
        "ASSET_MATERIALIZATION_PLANNED",
        "ASSET_CHECK_EVALUATION_PLANNED",
        "STEP_OUTPUT",
        "ASSET_CHECK_EVALUATION",
    }
)


def memory_instance() -> Any:
    """A ``DagsterInstance`` like ``DagsterInstance.ephemeral()``, with the cheaper event log."""
    from dagster import DagsterInstance
    from dagster._core.instance import InstanceType
    from dagster._core.launcher.sync_in_memory_run_launcher import SyncInMemoryRunLauncher
    from dagster._core.run_coordinator import DefaultRunCoordinator
    from dagster._core.storage.noop_compute_log_manager import NoOpComputeLogManager
    from dagster._core.storage.root import TemporaryLocalArtifactStorage
    from dagster._core.storage.runs import InMemoryRunStorage

    event_log = _event_log()
    if event_log is None:
        return DagsterInstance.ephemeral()
    return DagsterInstance(
        instance_type=InstanceType.EPHEMERAL,
        local_artifact_storage=TemporaryLocalArtifactStorage(),  # type: ignore[no-untyped-call]
        run_storage=InMemoryRunStorage(),
        event_storage=event_log,
        compute_log_manager=NoOpComputeLogManager(),
        run_coordinator=DefaultRunCoordinator(),
        run_launcher=SyncInMemoryRunLauncher(),
    )


def _event_log() -> Any:
    """The held-connection event log, or None where this Dagster's storage differs."""
    from dagster._core.storage.event_log import InMemoryEventLogStorage

    class _HeldConnectionEventLog(InMemoryEventLogStorage):
        def __init__(self) -> None:
            super().__init__()
            # What every connection of the stock storage sets (WAL means nothing in memory).
            # Outside a transaction, where SQLite applies it, then SQLAlchemy's own ended.
            self._held_conn.exec_driver_sql("PRAGMA foreign_keys=ON;")
            self._held_conn.commit()

            self._tables: dict[str, bool] = {}
            self._asset_key_columns: dict[str, bool] = {}

        def store_event(self, event: Any) -> None:
            unread = not event.is_dagster_event or (  # a log line, or a planned event
                event.dagster_event_type.value in _NOT_READ_DURING_A_RUN
            )
            if unread and not self._handlers.get(event.run_id):  # nobody watches the run
                return
            super().store_event(event)  # type: ignore[no-untyped-call]

        @contextmanager
        def _connect(self) -> Iterator[Any]:
            with self._db_lock, self._held_conn.begin():
                yield self._held_conn

        # The schema of this database is made once, in __init__: what it has is asked once.
        def has_table(self, table_name: str) -> bool:
            if table_name not in self._tables:
                self._tables[table_name] = super().has_table(table_name)
            return self._tables[table_name]

        def _has_asset_key_col_on_connection(self, conn: Any, column_name: str) -> bool:
            if column_name not in self._asset_key_columns:
                found = super()._has_asset_key_col_on_connection(conn, column_name)
                self._asset_key_columns[column_name] = found
            return self._asset_key_columns[column_name]

    try:
        return _HeldConnectionEventLog()
    except AttributeError:  # a Dagster whose in-memory storage holds no connection
        return None
