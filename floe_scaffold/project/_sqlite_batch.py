"""Group commits for Dagster's SQLite storages while :class:`RunRecorder` copies a run.

Dagster's ``SqliteEventLogStorage`` and ``SqliteRunStorage`` make an engine, open a connection,
commit and close it for every statement group: each event costs two to four commits (each an
``fsync``) and as many closes (the last connection to a WAL database checkpoints it). The events
of a run arrive in bursts (most after dbt's last node), so the recorder stores a burst and
commits it once. :func:`group_commits` swaps, on the one target instance the recorder opened,
the storages' connection factories for one connection per database file, kept open until the
copy ends; a transaction stays open until :meth:`GroupCommit.commit`. Nothing else changes: the
same Dagster code writes the same rows. Only the exact SQLite storage classes are touched (a
``DAGSTER_HOME`` on Postgres, or another Dagster version whose storages lack the private
methods used here, is left as it is and written per event, as before).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["GroupCommit", "group_commits"]


class GroupCommit:
    """One open connection per database file; commit them all at once; close them at the end."""

    def __init__(self) -> None:
        self._open: dict[str, tuple[Any, Any]] = {}  # conn string -> (engine, connection)

    def connection(
        self, key: str, make_engine: Callable[[], Any], prepare: Callable[[Any], None]
    ) -> Any:
        """The open connection for ``key``, in a transaction (made and prepared on first use)."""
        if key not in self._open:
            engine = make_engine()
            prepare(engine)
            connection = engine.connect()
            # In WAL mode, synchronous=NORMAL: a commit no longer waits for fsync; a crash of
            # the machine may lose the last commits, never corrupt the database (SQLite's docs).
            # Other journal modes keep SQLite's default.
            mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
            if str(mode).lower() == "wal":
                connection.exec_driver_sql("PRAGMA synchronous=NORMAL")
            connection.commit()
            self._open[key] = (engine, connection)
        connection = self._open[key][1]
        if not connection.in_transaction():
            connection.begin()
        return connection

    def commit(self) -> None:
        """Commit what every open connection wrote since the last commit."""
        for _, connection in self._open.values():
            if connection.in_transaction():
                connection.commit()

    def rollback(self) -> None:
        """Drop what was written since the last commit (after a failed store)."""
        for _, connection in self._open.values():
            if connection.in_transaction():
                connection.rollback()

    def close(self) -> None:
        """Commit, then close every connection and engine."""
        try:
            self.commit()
        finally:
            for engine, connection in self._open.values():
                connection.close()
                engine.dispose()
            self._open.clear()


def group_commits(instance: Any) -> GroupCommit | None:
    """Route ``instance``'s SQLite event-log and run storages through one :class:`GroupCommit`.

    None when neither storage is one this knows (they then commit per statement, as Dagster
    does). The instance must be used by one thread only while it is grouped.
    """
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
    from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage

    from floe_scaffold.instance_storage import SqliteEventLogStorage as KeptOpen

    group = GroupCommit()
    grouped = False
    events = instance.event_log_storage
    known = (SqliteEventLogStorage, KeptOpen)
    if type(events) in known and _has(events, "_connect", "_initdb", "_db_lock"):
        _replace(events, "_connect", _event_connect(events, group))
        grouped = True
    runs = instance.run_storage
    if type(runs) is SqliteRunStorage and _has(runs, "connect", "_conn_string"):
        _replace(runs, "connect", _run_connect(runs, group))
        grouped = True
    return group if grouped else None


def _replace(storage: Any, name: str, method: object) -> None:
    """Shadow a method on this one storage object (its class and other instances keep theirs)."""
    vars(storage)[name] = method


def _has(storage: Any, *names: str) -> bool:
    return all(hasattr(storage, name) for name in names)


def _event_connect(storage: Any, group: GroupCommit) -> Callable[[str], Any]:
    """``SqliteEventLogStorage._connect`` on the group's connections (same engine, same init)."""
    from dagster._core.storage.sql import create_engine
    from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
    from sqlalchemy.pool import NullPool

    @contextlib.contextmanager
    def connect(shard: str) -> Iterator[Any]:
        with storage._db_lock:
            conn_string = storage.conn_string_for_shard(shard)

            def make_engine() -> Any:
                return create_engine(
                    conn_string,
                    poolclass=NullPool,
                    connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
                )

            def prepare(engine: Any) -> None:
                if shard not in storage._initialized_dbs:
                    storage._initdb(engine)
                    storage._initialized_dbs.add(shard)

            yield group.connection(conn_string, make_engine, prepare)

    return connect


def _run_connect(storage: Any, group: GroupCommit) -> Callable[[], Any]:
    """``SqliteRunStorage.connect`` on the group's connection."""
    from dagster._core.storage.sql import create_engine
    from sqlalchemy.pool import NullPool

    conn_string = storage._conn_string

    @contextlib.contextmanager
    def connect() -> Iterator[Any]:
        yield group.connection(
            conn_string,
            lambda: create_engine(conn_string, poolclass=NullPool),
            lambda _engine: None,
        )

    return connect
