"""The table metadata round after dbt: bounded in time, and stopped by Ctrl-C at once.

The queries run on a thread of their own while the run's thread waits for them, at most the
round's budget. So:

* a warehouse slow to answer (a count over a deep chain of views, a busy cluster) costs the run
  at most the budget: the query is then cancelled, what was answered is kept, and one warning
  says what was left out and how to get it;
* SIGINT reaches the run's thread while it waits (Dagster raises its interruption there, even
  when the warehouse client is inside a C call on the other thread): the query is cancelled
  and the interruption goes on, so ``floe run`` stops with exit 130 instead of going on.

Cancelling uses the driver's own cancel where it has one (psycopg2's ``cancel()``, safe from
another thread), else the adapter's ``cancel`` (dbt-duckdb interrupts the DuckDB cursor).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from floe_scaffold.components._table_metadata import (
        TableMetadataSettings,
        _AdapterLoader,
        _Relation,
    )

__all__ = ["MetadataRound"]

_LOG = logging.getLogger("floe_scaffold.components._table_metadata")
#: How long a cancelled query may take to end before the round goes on without it.
_GRACE_SECONDS = 2.0


class MetadataRound:
    """One round of table metadata queries for ``relations``, on its own thread."""

    def __init__(
        self,
        loader: _AdapterLoader,
        relations: Sequence[_Relation],
        settings: TableMetadataSettings,
    ) -> None:
        self._loader = loader
        self._relations = relations
        self._settings = settings
        self._found: dict[str, dict[str, Any]] = {}
        self._stop = threading.Event()
        self._adapter: Any = None
        self._connection: Any = None
        self._lock = threading.Lock()

    def answers(self, budget: float) -> dict[str, dict[str, Any]]:
        """The metadata answered within ``budget`` seconds, by unique id.

        Raises whatever interrupts the wait (Dagster's interruption on SIGINT), once the
        running query is cancelled.
        """
        worker = threading.Thread(target=self._work, name="floe-table-metadata", daemon=True)
        worker.start()
        try:
            worker.join(budget)
        except BaseException:  # Ctrl-C: no more queries, the running one cancelled
            self._cancel()
            worker.join(_GRACE_SECONDS)
            raise
        if worker.is_alive():
            self._cancel()
            worker.join(_GRACE_SECONDS)
            self._warn_cut(budget)
        return {unique_id: dict(entry) for unique_id, entry in list(self._found.items())}

    def _work(self) -> None:
        from floe_scaffold.components._table_metadata import _ask, _release

        adapter = self._loader.result()
        if adapter is None:
            return
        if self._stop.is_set():  # the budget ran out while the adapter loaded
            _release(adapter)
            return
        with self._lock:
            self._adapter = adapter
        try:
            _ask(
                adapter,
                self._relations,
                self._settings,
                self._found,
                stop=self._stop,
                on_open=self._opened,
            )
        except Exception as error:  # noqa: BLE001 - the run goes on without the metadata
            if not self._stop.is_set():
                _LOG.warning("floe: no table metadata: the warehouse connection failed: %s", error)
        finally:
            with self._lock:
                self._connection = None
            _release(adapter)

    def _opened(self, connection: Any) -> None:
        with self._lock:
            self._connection = connection

    def _cancel(self) -> None:
        """No further query; the running one, if any, cancelled (best effort)."""
        self._stop.set()
        with self._lock:
            adapter, connection = self._adapter, self._connection
        if adapter is None or connection is None:
            return
        try:
            cancel = getattr(connection.handle, "cancel", None)
            if callable(cancel):
                cancel()
            else:
                adapter.connections.cancel(connection)
        except Exception as error:  # noqa: BLE001 - the round ends anyway; say why here
            _LOG.warning("floe: cancelling the table metadata query failed: %s", error)

    def _warn_cut(self, budget: float) -> None:
        asked = self._settings
        missing = sum(
            1
            for relation in self._relations
            if not asked.wanted(relation.view, relation.reported_rows)
            <= self._found.get(relation.unique_id, {}).keys()
        )
        _LOG.warning(
            "floe: table metadata left out for %d of %d relations: the warehouse had not "
            "answered within the budget of %.0f s; set `table_metadata: {budget_seconds: N}` "
            "in defs.yaml to wait longer%s",
            missing,
            len(self._relations),
            budget,
            ", or `count_views: false` to count no views" if asked.count_views else "",
        )
