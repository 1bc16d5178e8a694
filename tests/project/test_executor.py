"""The project's default executor: a chain of steps runs in the run's own process, anything
that can run side by side gets Dagster's process per step, and both of Dagster's modes stay."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from floe_scaffold.components._executor import floe_executor


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
