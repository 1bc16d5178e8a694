"""RunRecorder copies a run into a SQLite instance with grouped commits, losing nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.events import DagsterEventType

from floe_scaffold.project._instance import RunRecorder, instance_home
from floe_scaffold.project._sqlite_batch import group_commits


@dg.asset
def upstream() -> int:
    return 1


@dg.asset
def downstream(upstream: int) -> int:
    return upstream + 1


@dg.asset_check(asset=downstream)
def downstream_is_two() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


@dg.asset_check(asset=upstream)
def upstream_fails() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False)


def _record(home: Path, run_id: str) -> dg.ExecuteInProcessResult:
    defs = dg.Definitions(
        assets=[upstream, downstream], asset_checks=[downstream_is_two, upstream_fails]
    )
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.DagsterInstance.ephemeral() as source:
        recorder = RunRecorder(source, lambda: dg.DagsterInstance.from_config(str(home)), run_id)
        source.add_event_listener(run_id, recorder)
        try:
            result = job.execute_in_process(instance=source, run_id=run_id, raise_on_error=False)
        finally:
            assert recorder.close() is None
        source_types = [
            record.event_log_entry.dagster_event_type
            for record in source.get_records_for_run(run_id).records
        ]
    with dg.DagsterInstance.from_config(str(home)) as target:
        target_types = [
            record.event_log_entry.dagster_event_type
            for record in target.get_records_for_run(run_id).records
        ]
    assert target_types == source_types  # every event, in order
    return result


def test_a_recorded_run_has_every_event_materialization_and_check(tmp_path: Path) -> None:
    home = instance_home(tmp_path)
    for run_id in ("0f6b2a8e-1b7c-4c39-9d1e-000000000001", "0f6b2a8e-1b7c-4c39-9d1e-000000000002"):
        assert _record(home, run_id).success

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert [run.status for run in instance.get_runs()] == [dg.DagsterRunStatus.SUCCESS] * 2
        latest = instance.get_latest_materialization_event(dg.AssetKey("downstream"))
        assert latest is not None and latest.run_id.endswith("000000000002")
        checks = instance.get_records_for_run(
            latest.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
        ).records
        evaluations: list[Any] = [
            record.event_log_entry.get_dagster_event().event_specific_data for record in checks
        ]
        passed = {evaluation.check_name: evaluation.passed for evaluation in evaluations}
        assert passed == {"downstream_is_two": True, "upstream_fails": False}
        # the asset-check index (what the UI's check history reads) holds both runs
        key = dg.AssetCheckKey(dg.AssetKey("upstream"), "upstream_fails")
        history = instance.event_log_storage.get_asset_check_execution_history(key, limit=10)
        assert len(history) == 2


def test_the_default_sqlite_instance_is_grouped_and_a_failed_store_loses_only_its_batch(
    tmp_path: Path,
) -> None:
    home = instance_home(tmp_path)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        group = group_commits(instance)
        assert group is not None
        storage = instance.run_storage
        with storage.connect() as connection:  # type: ignore[attr-defined]
            connection.exec_driver_sql("CREATE TABLE probe (n INTEGER)")
            connection.exec_driver_sql("INSERT INTO probe VALUES (1)")
        group.commit()
        with storage.connect() as connection:  # type: ignore[attr-defined]
            connection.exec_driver_sql("INSERT INTO probe VALUES (2)")
        group.rollback()
        group.close()
    import sqlite3

    with sqlite3.connect(home / "history" / "runs.db") as database:
        assert database.execute("SELECT n FROM probe").fetchall() == [(1,)]


@pytest.mark.parametrize("storage", ["event_log_storage", "run_storage"])
def test_an_unknown_storage_is_left_alone(storage: str) -> None:
    with dg.DagsterInstance.ephemeral() as instance:  # in-memory storages: not SQLite files
        before = vars(getattr(instance, storage)).copy()
        assert group_commits(instance) is None
        assert vars(getattr(instance, storage)) == before


def test_ctrl_c_while_the_last_events_are_recorded_records_the_run_as_canceled(
    tmp_path: Path,
) -> None:
    """floe run's recording phase: the run is over, its events still being copied."""
    import os
    import signal
    import sqlite3
    import threading
    import time

    home = instance_home(tmp_path)
    run_id = "0f6b2a8e-1b7c-4c39-9d1e-000000000003"
    with dg.DagsterInstance.from_config(str(home)):  # creates the databases
        pass
    # Another process's write lock on the index (floe dev's webserver, say): the run is added,
    # then the first asset event waits for the lock.
    index = home / "history" / "runs" / "index.db"
    blocker = sqlite3.connect(index, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    defs = dg.Definitions(assets=[upstream, downstream])
    job = defs.resolve_implicit_global_asset_job_def()
    closing = threading.Event()

    def interrupt() -> None:
        time.sleep(1.0)  # close() is waiting behind the lock by now
        if closing.is_set():
            os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.5)
        blocker.execute("ROLLBACK")

    with dg.DagsterInstance.ephemeral() as source:
        recorder = RunRecorder(source, lambda: dg.DagsterInstance.from_config(str(home)), run_id)
        source.add_event_listener(run_id, recorder)
        assert job.execute_in_process(instance=source, run_id=run_id).success
        timer = threading.Thread(target=interrupt)
        closing.set()
        timer.start()
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            recorder.close()
        closing.clear()
        timer.join()
        assert time.monotonic() - started < 10
    blocker.close()
    with dg.DagsterInstance.from_config(str(home)) as target:
        run = target.get_run_by_id(run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.CANCELED
        types = [
            record.event_log_entry.dagster_event_type
            for record in target.get_records_for_run(run_id).records
        ]
        assert types[-1] == DagsterEventType.RUN_CANCELED
        assert DagsterEventType.RUN_SUCCESS not in types  # the later events were dropped
