"""The Dagster run's own lineage: START, then COMPLETE, FAIL or ABORT, of the root run.

Every dbt invocation's events name the Dagster run as their parent (and every node's as its
root): namespace ``dagster``, the run's job name (``__ASSET_JOB`` for an asset run), the run id
as a UUID. These are that run's own events, so a consumer sees Dagster run -> dbt invocation ->
node with no dangling parent. They are sent where the whole run is seen: by floe's executor in a
run worker (a run launched from the UI, a schedule, a sensor, Kubernetes), and by ``floe run``
around its in-process execution (Dagster's ``execute_in_process`` always uses its own executor).
A run whose definitions use another executor (``executor: dagster``) sends none.

Like every lineage event they never fail or hold a run: sent by the process's dispatcher for the
target, and the end waits for the queue within the same bound as a dbt invocation's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from floe_scaffold.lineage._config import LineageTarget
from floe_scaffold.lineage._dispatch import FLUSH_LIMIT_SECONDS, FLUSH_SECONDS

__all__ = ["DAGSTER_NAMESPACE", "DagsterRun", "DagsterRunLineage"]

#: dbt-ol's namespace for the orchestrator that runs dbt; the Dagster run is the root run.
DAGSTER_NAMESPACE = "dagster"


class DagsterRun:
    """The Dagster run a dbt invocation belongs to (the root of its lineage)."""

    def __init__(self, run_id: str, job_name: str) -> None:
        self.run_id, self.job_name = run_id, job_name

    @property
    def lineage_run_id(self) -> str:
        """Dagster run ids are UUIDs already; anything else is mapped to a stable UUID."""
        try:
            return str(uuid.UUID(self.run_id))
        except ValueError:
            return str(uuid.uuid5(uuid.NAMESPACE_URL, f"dagster-run:{self.run_id}"))


@dataclass(frozen=True)
class DagsterRunLineage:
    """Sends the START and the end of Dagster runs to ``target`` (nothing when it is off)."""

    target: LineageTarget

    def started(self, run: DagsterRun) -> None:
        """The run started: its START."""
        self._send(run, "START", None)

    def ended(self, run: DagsterRun, *, success: bool, error: str | None = None) -> None:
        """The run ended: COMPLETE, or FAIL with ``error``; then wait (bounded) for delivery."""
        self._send(run, "COMPLETE" if success else "FAIL", None if success else error or "failed")
        self._flush()

    def aborted(self, run: DagsterRun, reason: str) -> None:
        """The run was stopped (interrupted, cancelled): ABORT with ``reason``."""
        self._send(run, "ABORT", reason)
        self._flush()

    def _send(self, run: DagsterRun, state: str, error: str | None) -> None:
        if not self.target.enabled:
            return
        try:  # the client is imported when a run starts, never when definitions load
            from openlineage.client.event_v2 import RunState

            from floe_scaffold.lineage._events import orchestrator_event, utc
            from floe_scaffold.lineage._transport import dispatcher_for

            event = orchestrator_event(
                RunState(state),
                run_id=run.lineage_run_id,
                namespace=DAGSTER_NAMESPACE,
                job_name=run.job_name,
                event_time=utc(),
                error=error,
            )
            dispatcher_for(self.target).submit(event)
        except Exception:  # noqa: BLE001 - lineage must never fail a run
            return

    def _flush(self) -> None:
        if not self.target.enabled:
            return
        from floe_scaffold.lineage._transport import dispatcher_for

        dispatcher_for(self.target).flush(FLUSH_LIMIT_SECONDS, idle=FLUSH_SECONDS)
