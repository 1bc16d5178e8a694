"""Dagster's SQLite event log, with its connections kept open: the project's instance storage.

Dagster's ``SqliteEventLogStorage`` makes an engine, opens a connection, commits and closes it
for every statement group. Each commit waits for an ``fsync`` and each close of the last
connection to a WAL database checkpoints it (a second ``fsync``), so an event costs about
20 ms of wall time here, and a run launched in ``floe dev`` writes several events per dbt
node: at 1,000 models, most of a minute before the run even starts (the planned events) and
again while it runs. This storage is the same class with one engine per database file whose
connections stay open, ``synchronous=NORMAL`` in WAL mode (a commit no longer waits for the
disk; a crash of the machine may lose the last commits, never corrupt the database: SQLite's
documentation), and a checkpoint at most every :data:`CHECKPOINT_SECONDS` after a write,
plus one shortly after the last write of a burst. The checkpoint matters beyond durability:
the UI learns of a run's new events by watching the run's database file, which only a
checkpoint writes. Same tables, same files, same Dagster code for every query: an instance made
with Dagster's default storage opens with this one, and back.

The project's ``dagster.yaml`` names it (``floe_scaffold/project/_instance.py``)::

    event_log_storage:
      module: floe_scaffold.instance_storage
      class: SqliteEventLogStorage

Without a ``base_dir`` in its config, the events go where Dagster's default storage keeps them,
``history/runs/`` in the instance's directory (known once the instance registers the storage;
``DAGSTER_HOME`` need not be set, so ``DagsterInstance.from_config(path)`` works as before).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    SqliteEventLogStorage as _DagsterSqliteEventLogStorage,
)
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData

__all__ = ["CHECKPOINT_SECONDS", "OPEN_SHARDS", "SqliteEventLogStorage"]

#: The longest a committed event waits before a checkpoint shows it to the UI's file watcher.
CHECKPOINT_SECONDS = 0.2

#: Database files kept open at once (the index, and the runs written last): a long-lived
#: webserver writes the planned events of every run it launches, and must not keep them all.
OPEN_SHARDS = 8


class SqliteEventLogStorage(_DagsterSqliteEventLogStorage):
    """Dagster's run-sharded SQLite event log storage, with open connections (module docstring).

    Config: ``base_dir`` (optional), the event logs' directory, as for Dagster's class; by
    default ``history/runs`` in the directory of the instance that registers the storage.
    """

    def __init__(
        self, base_dir: str | None = None, inst_data: ConfigurableClassData | None = None
    ) -> None:
        # Set before Dagster's __init__, which may already connect (a new index database).
        self._engines: OrderedDict[str, Any] = OrderedDict()
        self._checkpointed: dict[str, float] = {}
        self._pending: dict[str, threading.Timer] = {}
        self._closed = False
        self._tables: set[str] = set()
        self._deferred_inst_data = inst_data
        if base_dir is not None:
            super().__init__(base_dir, inst_data)

    def register_instance(self, instance: Any) -> None:
        """Set up in the instance's ``history/runs`` when no ``base_dir`` was configured."""
        if not hasattr(self, "_base_dir"):
            base_dir = str(Path(instance.root_directory) / "history" / "runs")
            super().__init__(base_dir, self._deferred_inst_data)
        super().register_instance(instance)

    @classmethod
    def config_type(cls) -> Any:
        """``base_dir``, optional."""
        from dagster import Field, StringSource

        return {"base_dir": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> SqliteEventLogStorage:
        """The storage for the ``config`` of ``event_log_storage`` in ``dagster.yaml``."""
        return cls(config_value.get("base_dir"), inst_data=inst_data)

    @contextlib.contextmanager
    def _connect(self, shard: str) -> Iterator[Any]:
        with self._db_lock:
            with self._engine(shard).connect() as connection, connection.begin():
                yield connection
            self._after_write(shard)

    def has_table(self, table_name: str) -> bool:
        """Dagster's answer, remembered once a table exists (tables are only ever added).

        Dagster asks it for every asset check event (``supports_asset_checks``), each time
        with a new engine and connection: a tenth of a recording's time at 1,000 checks.
        """
        if table_name in self._tables:
            return True
        found = super().has_table(table_name)
        if found:
            self._tables.add(table_name)
        return found

    def dispose(self) -> None:
        """Checkpoint and close every open database, then stop Dagster's file watcher."""
        with self._db_lock:
            self._closed = True
            for shard in list(self._engines):
                self._close(shard)
        super().dispose()

    def _engine(self, shard: str) -> Any:
        """The shard's engine, made (and the database created) on first use; lock held."""
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
        else:
            from dagster._core.storage.sql import create_engine
            from sqlalchemy import event

            engine = create_engine(
                self.conn_string_for_shard(shard),
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            )
            event.listen(engine, "connect", _relaxed_sync)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
                engine.dispose()  # its connection predates WAL mode: connect again, relaxed
            self._engines[shard] = engine
            while len(self._engines) > OPEN_SHARDS:
                self._close(next(iter(self._engines)))
        return engine

    def _close(self, shard: str) -> None:
        """Checkpoint the shard and close its connections (lock held)."""
        timer = self._pending.pop(shard, None)
        if timer is not None:
            timer.cancel()
        self._checkpoint(shard)
        self._checkpointed.pop(shard, None)
        self._engines.pop(shard).dispose()

    def _after_write(self, shard: str) -> None:
        """Checkpoint now if the last one is old enough, else once the interval is over."""
        if self._closed:
            return
        wait = self._checkpointed.get(shard, 0.0) + CHECKPOINT_SECONDS - time.monotonic()
        if wait <= 0:
            self._checkpoint(shard)
        elif shard not in self._pending:
            timer = threading.Timer(wait, self._deferred_checkpoint, args=(shard,))
            timer.daemon = True
            self._pending[shard] = timer
            timer.start()

    def _deferred_checkpoint(self, shard: str) -> None:
        with self._db_lock:
            self._pending.pop(shard, None)
            if not self._closed:
                self._checkpoint(shard)

    def _checkpoint(self, shard: str) -> None:
        """Copy the shard's write-ahead log into its database file (lock held)."""
        engine = self._engines.get(shard)
        if engine is None:
            return
        # PASSIVE never waits for readers or writers of other processes; a busy database is
        # checkpointed by the next write's turn.
        with contextlib.suppress(Exception), engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        self._checkpointed[shard] = time.monotonic()


def _relaxed_sync(connection: Any, _record: Any) -> None:
    """``synchronous=NORMAL`` where the database is in WAL mode (Dagster makes them so)."""
    cursor = connection.cursor()
    try:
        mode = cursor.execute("PRAGMA journal_mode").fetchone()
        if mode and str(mode[0]).lower() == "wal":
            cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()
