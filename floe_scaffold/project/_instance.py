"""The project's one Dagster instance, and a run recorded into it without slowing the run down.

``floe run``, ``floe dev``, ``dg`` and the generated tests all record to ``$DAGSTER_HOME`` when it
is set, else to the project's ``.dagster_home/`` (made with a ``dagster.yaml`` on first use), so
a run made on the command line shows in the UI with its materializations and check results.

Dagster's SQLite storage opens, commits and closes a database per event (tens of milliseconds
each on a busy disk), and opening the instance imports and checks its schema (most of a second),
which would add seconds to a short run. ``floe run`` therefore executes on an in-memory instance
and :class:`RunRecorder` opens the project's instance and copies the run, its snapshots and every
event, in order, into it on a background thread while dbt works; the events that arrive
together (most come after dbt's last node) are committed together, on connections kept open for
the copy (``project/_sqlite_batch.py``). The run returns once the last event is stored
(``python -m bench.run --only instance`` measures it).
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from floe_scaffold.project._sqlite_batch import group_commits

__all__ = ["INSTANCE_CONFIG", "RunRecorder", "instance_home"]

#: The ``dagster.yaml`` written into a new ``.dagster_home``.
INSTANCE_CONFIG = """\
# The Dagster instance of this project (runs, event logs, schedules): `floe run`, `floe dev`,
# `dg dev` and the project's tests record here unless DAGSTER_HOME names another instance.
# Telemetry is off so that runs make no network call; remove these lines to share usage
# statistics with Dagster.
telemetry:
  enabled: false
# A run launched in the UI waits in Dagster's queue until the daemon next looks (every 5 s by
# default); every second, it starts at once.
run_queue:
  dequeue_interval_seconds: 1
# Dagster's SQLite event log with its connections kept open (same files, same tables): an event
# costs a few milliseconds instead of ~20, which a run of hundreds of dbt models feels. Remove
# these lines for Dagster's own class.
event_log_storage:
  module: floe_scaffold.instance_storage
  class: SqliteEventLogStorage
"""

#: What earlier releases wrote as ``dagster.yaml``: replaced by :data:`INSTANCE_CONFIG` when
#: found unchanged (a file the user edited is left alone).
_EARLIER_CONFIGS = (
    INSTANCE_CONFIG.split("# A run launched in the UI")[0],
    INSTANCE_CONFIG.split("# Dagster's SQLite event log")[0],
)

_DONE = object()

#: How long a recorder interrupted by Ctrl-C may take to record the run as canceled.
_CANCEL_SECONDS = 10.0


@dataclass(frozen=True)
class _RunRecord:
    """The run as its first event found it, with the snapshots it refers to."""

    run: Any
    snapshots: list[Any]


def instance_home(root: Path) -> Path:
    """``$DAGSTER_HOME`` when it is set, else ``root/.dagster_home`` (created if missing)."""
    configured = os.environ.get("DAGSTER_HOME")
    if configured:
        return Path(configured)
    home = root / ".dagster_home"
    home.mkdir(exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() or config.read_text(encoding="utf-8") in _EARLIER_CONFIGS:
        config.write_text(INSTANCE_CONFIG, encoding="utf-8")
    return home


class RunRecorder:
    """Copies one run of an in-memory instance into a persistent one, as its events arrive.

    Register it with ``source.add_event_listener(run_id, recorder)``; call :meth:`close` after
    the run to wait for the last event to be stored. ``open_target`` opens the persistent
    instance; it is called on the recorder's thread, which alone writes to it, while the
    in-memory instance is read on the run's own thread only. An error while opening or storing
    stops the copy and is returned by :meth:`close`.
    """

    def __init__(
        self, source: Any, open_target: Callable[[], AbstractContextManager[Any]], run_id: str
    ) -> None:
        self._source, self._open_target, self._run_id = source, open_target, run_id
        self._items: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._run_read = False
        self._run: Any = None  # the run as stored in the target, once it is
        self._cancelled = threading.Event()
        self._finished = threading.Event()  # set by the recorder's thread as it ends
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="floe-run-recorder", daemon=True)
        self._thread.start()

    def __call__(self, entry: Any) -> None:
        if self._error is not None:
            return
        if not self._run_read:  # the run exists in the source before its first event
            try:
                self._items.put(self._read_run())
            except Exception as error:  # noqa: BLE001 - the run goes on; close() reports it
                self._error = error
                return
            self._run_read = True
        self._items.put(entry)

    def close(self) -> str | None:
        """Wait until every event is stored; what stopped the copy, if anything did.

        A Ctrl-C while it waits (KeyboardInterrupt) stops the copy: the events not yet stored
        are dropped, the run is recorded as canceled (it would otherwise stay "started" in the
        UI for ever), at most :data:`_CANCEL_SECONDS` are spent on that, and the
        KeyboardInterrupt goes on.
        """
        self._items.put(_DONE)
        try:
            self._thread.join()
        except KeyboardInterrupt:
            self._cancelled.set()
            # Not join() again: a join interrupted by KeyboardInterrupt can leave the thread
            # looking finished while it runs (CPython gh-90882 up to 3.12), so the second join
            # would return at once and the process exit before the cancel is recorded.
            self._finished.wait(timeout=_CANCEL_SECONDS)
            raise
        if self._error is None:
            return None
        return f"{type(self._error).__name__}: {self._error}"

    def _read_run(self) -> _RunRecord:
        from dagster import DagsterRunStatus

        run = self._source.get_run_by_id(self._run_id)
        snapshots = []
        if run.job_snapshot_id is not None:
            job = self._source.get_job_snapshot(run.job_snapshot_id)
            if job.lineage_snapshot is not None:  # a subset job (--select): its parent first
                parent = job.lineage_snapshot.parent_snapshot_id
                snapshots.append(self._source.get_job_snapshot(parent))
            snapshots.append(job)
        if run.execution_plan_snapshot_id is not None:
            plan = self._source.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
            snapshots.append(plan)
        # The run's status then follows its events, as it did in the in-memory instance.
        return _RunRecord(run.with_status(DagsterRunStatus.NOT_STARTED), snapshots)

    def _work(self) -> None:
        try:
            with self._open_target() as target:
                self._copy(target)
        except BaseException as error:  # noqa: BLE001 - handed to close()
            self._error = self._error or error
            self._finished.set()
            self._drain()
        finally:
            self._finished.set()

    def _copy(self, target: Any) -> None:
        group = group_commits(target)
        try:
            done = False
            while not done:
                # Store what has arrived (one event, or a burst), then commit it once.
                done = self._store(target, self._items.get())
                with contextlib.suppress(queue.Empty):
                    while not done:
                        done = self._store(target, self._items.get_nowait())
                if group is not None:
                    group.commit()
            if self._cancelled.is_set() and self._run is not None:
                target.report_run_canceled(
                    self._run,
                    message="Recording stopped by Ctrl-C (floe run): the run's later events "
                    "were not recorded.",
                )
        except BaseException:
            if group is not None:
                group.rollback()
            raise
        finally:
            if group is not None:
                group.close()

    def _store(self, target: Any, item: Any) -> bool:
        """Store one item; whether it was the last."""
        if item is _DONE:
            return True
        if self._error is not None or self._cancelled.is_set():  # nothing more is stored
            return False
        if isinstance(item, _RunRecord):
            for snapshot in item.snapshots:
                target.add_snapshot(snapshot)
            self._run = target.add_run(item.run)
        else:
            target.handle_new_event(item)
        return False

    def _drain(self) -> None:
        """After a failure: take items until close() says the run is over."""
        while self._items.get() is not _DONE:
            pass
