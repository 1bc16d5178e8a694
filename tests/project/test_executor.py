"""The project's default executor: a chain of steps runs in the run's own process, anything
that can run side by side gets Dagster's process per step, and both of Dagster's modes stay."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from floe_scaffold.components._executor import floe_executor, floe_executor_for
from floe_scaffold.lineage import LineageTarget
from floe_scaffold.lineage._dagster_run import DagsterRunLineage
from tests.observability.lineage_receiver import floe_lineage_validator

#: Where the run-lineage jobs below write their events (a reconstructed job reads it again).
_LOG_VARIABLE = "FLOE_TEST_RUN_LINEAGE_LOG"


@dg.asset
def first() -> None:
    pass


@dg.asset(deps=[first])
def second() -> None:
    pass


@dg.asset
def alongside() -> None:
    pass


def chain_job() -> dg.JobDefinition:
    return _job([first, second])


def parallel_job() -> dg.JobDefinition:
    return _job([first, second, alongside])


def _job(assets: list[dg.AssetsDefinition]) -> dg.JobDefinition:
    """Every asset's job, taking the definitions' default executor as the UI's asset job does."""
    everything = dg.define_asset_job("everything")
    defs = dg.Definitions(assets=assets, jobs=[everything], executor=floe_executor)
    return defs.resolve_job_def("everything")


@dg.asset(deps=[first])
def broken() -> None:
    raise ValueError("no such table: orders")


def _lineage_job(assets: list[dg.AssetsDefinition]) -> dg.JobDefinition:
    target = LineageTarget("file", os.environ[_LOG_VARIABLE], "floe")
    everything = dg.define_asset_job("everything")
    executor = floe_executor_for(DagsterRunLineage(target))
    defs = dg.Definitions(assets=assets, jobs=[everything], executor=executor)
    return defs.resolve_job_def("everything")


def parallel_lineage_job() -> dg.JobDefinition:
    return _lineage_job([first, second, alongside])


def failing_lineage_job() -> dg.JobDefinition:
    return _lineage_job([first, broken])


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        yield instance


def _step_pids(
    job: object, instance: dg.DagsterInstance, run_config: dict[str, object] | None = None
) -> dict[str, int]:
    """Step key -> the pid that ran it (its STEP_START event's); the run must succeed."""
    with dg.execute_job(
        dg.reconstructable(job),  # type: ignore[arg-type]
        instance=instance,
        run_config=run_config or {},
    ) as result:
        assert result.success
        return {
            str(event.step_key): event.pid
            for event in result.all_events
            if event.event_type == dg.DagsterEventType.STEP_START and event.pid is not None
        }


def test_a_chain_of_steps_runs_in_the_run_process(instance: dg.DagsterInstance) -> None:
    pids = _step_pids(chain_job, instance)
    assert set(pids) == {"first", "second"}
    assert set(pids.values()) == {os.getpid()}


def test_steps_that_can_run_side_by_side_get_a_process_each(
    instance: dg.DagsterInstance,
) -> None:
    pids = _step_pids(parallel_job, instance)
    assert set(pids) == {"first", "second", "alongside"}
    assert os.getpid() not in pids.values()
    assert len(set(pids.values())) == 3


@pytest.mark.parametrize(
    ("mode", "in_run_process"), [("multiprocess", False), ("in_process", True)]
)
def test_dagster_s_own_modes_are_kept(
    instance: dg.DagsterInstance, mode: str, in_run_process: bool
) -> None:
    pids = _step_pids(chain_job, instance, {"execution": {"config": {mode: {}}}})
    assert (set(pids.values()) == {os.getpid()}) is in_run_process


@pytest.fixture(scope="module")
def run_lineage_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One log for this module's run-lineage jobs (Dagster caches a reconstructed job per
    process, so every run of it writes where the first one did)."""
    log = tmp_path_factory.mktemp("run-lineage") / "events.jsonl"
    os.environ[_LOG_VARIABLE] = str(log)
    yield log
    del os.environ[_LOG_VARIABLE]


def _run_events(log: Path, run_id: str) -> list[dict[str, Any]]:
    """The events of the Dagster run ``run_id``, each valid OpenLineage."""
    lines = log.read_text(encoding="utf-8").splitlines()
    events = [e for e in map(json.loads, lines) if e["run"]["runId"] == run_id]
    for event in events:
        floe_lineage_validator().assert_valid(event)
    return events


@pytest.mark.requirement("FR-011")
@pytest.mark.parametrize("mode", [{}, {"multiprocess": {}}, {"in_process": {}}])
def test_a_run_worker_sends_the_dagster_runs_own_start_and_complete(
    instance: dg.DagsterInstance, run_lineage_log: Path, mode: dict[str, object]
) -> None:
    """The root every dbt invocation names as its parent (namespace ``dagster``, the job's
    name, the run id) has events of its own, whichever of the executor's modes runs it."""
    with dg.execute_job(
        dg.reconstructable(parallel_lineage_job),
        instance=instance,
        run_config={"execution": {"config": mode}} if mode else {},
    ) as result:
        assert result.success
        run_id = result.run_id
    events = _run_events(run_lineage_log, run_id)
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event in events:
        assert (event["job"]["namespace"], event["job"]["name"]) == ("dagster", "everything")
        assert "parent" not in event["run"]["facets"]
        assert event["job"]["facets"]["jobType"]["integration"] == "DAGSTER"
    stats = instance.get_run_stats(run_id)
    assert stats.start_time is not None and stats.end_time is not None
    # START before the run's first step started, the end after its last step ended.
    started, ended = (_time(e["eventTime"]) for e in events)
    assert started <= stats.start_time + 1.0 and ended >= stats.end_time - 1.0


@pytest.mark.requirement("FR-013")
def test_a_failed_step_fails_the_dagster_runs_lineage_with_its_error(
    instance: dg.DagsterInstance, run_lineage_log: Path
) -> None:
    with dg.execute_job(dg.reconstructable(failing_lineage_job), instance=instance) as result:
        assert not result.success
        run_id = result.run_id
    events = _run_events(run_lineage_log, run_id)
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    message = events[1]["run"]["facets"]["errorMessage"]["message"]
    assert message.startswith("step broken failed: "), message
    assert "no such table: orders" in message, "the user's error, not only Dagster's wrapper"


def _time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
