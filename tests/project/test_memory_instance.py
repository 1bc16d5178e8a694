"""The in-memory instance ``floe run`` executes on answers what a run asks as the stock one does.

It keeps only what a run reads back (project/_memory_instance.py): no planned events, step
outputs, check evaluations or log lines; every event still reaches the run's listeners and result.
"""

from __future__ import annotations

import uuid
from typing import Any

import dagster as dg

from floe_scaffold.project._memory_instance import memory_instance


@dg.asset
def upstream() -> int:
    return 1


@dg.asset(deps=[upstream])
def downstream() -> int:
    return 2


@dg.asset_check(asset=downstream)
def downstream_is_two() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


def _run(instance: dg.DagsterInstance) -> dict[str, object]:
    job = dg.Definitions(
        assets=[upstream, downstream], asset_checks=[downstream_is_two]
    ).resolve_implicit_global_asset_job_def()
    first = job.execute_in_process(instance=instance)
    second = job.execute_in_process(instance=instance)
    latest = instance.get_latest_materialization_event(dg.AssetKey("downstream"))
    (evaluation,) = second.get_asset_check_evaluations()
    target = evaluation.target_materialization_data
    return {
        "success": first.success and second.success,
        "materializations": [
            len(instance.fetch_materializations(dg.AssetKey(name), limit=10).records)
            for name in ("upstream", "downstream")
        ],
        "latest_run": latest is not None and latest.run_id == second.run_id,
        "check_targets_latest": target is not None and target.run_id == second.run_id,
    }


def _kind(entry: dg.EventLogEntry) -> str:
    return entry.dagster_event_type.value if entry.dagster_event_type else "LOG"


def _stored(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    return [
        _kind(record.event_log_entry) for record in instance.get_records_for_run(run_id).records
    ]


def test_it_answers_as_the_stock_ephemeral_instance_does() -> None:
    with memory_instance() as ours, dg.DagsterInstance.ephemeral() as stock:
        assert type(ours.event_log_storage).__name__ == "_HeldConnectionEventLog"
        assert _run(ours) == _run(stock)


@dg.multi_asset(
    outs={
        "made": dg.AssetOut(is_required=False),
        "not_made": dg.AssetOut(is_required=False),
    },
    can_subset=True,
)
def optional_outputs() -> Any:
    dg.get_dagster_logger().info("a log line")
    yield dg.Output(1, output_name="made")


@dg.asset
def reads_made(made: int) -> int:
    return made + 1


@dg.asset
def reads_not_made(not_made: int) -> int:
    return not_made + 1


def _skips(instance: dg.DagsterInstance) -> tuple[list[str], list[str], list[str]]:
    """Which steps ran, which were skipped, and what the instance stored."""
    job = dg.Definitions(
        assets=[optional_outputs, reads_made, reads_not_made]
    ).resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=instance, raise_on_error=False)
    ran = sorted(str(event.step_key) for event in result.all_events if event.is_step_success)
    skipped = sorted(str(event.step_key) for event in result.all_events if event.is_step_skipped)
    return ran, skipped, _stored(instance, result.run_id)


def test_a_step_after_an_optional_output_runs_or_skips_as_on_the_stock_instance() -> None:
    """A step after an optional output that was not made is skipped, the others run."""
    with memory_instance() as ours, dg.DagsterInstance.ephemeral() as stock:
        ran, skipped, stored = _skips(ours)
        stock_ran, stock_skipped, stock_stored = _skips(stock)
    assert (ran, skipped) == (stock_ran, stock_skipped)
    assert "reads_made" in ran and skipped == ["reads_not_made"]
    # The same events, less what nothing reads during a run.
    unread = {"ASSET_MATERIALIZATION_PLANNED", "STEP_OUTPUT", "LOG"}
    assert unread <= set(stock_stored)
    assert stored == [kind for kind in stock_stored if kind not in unread]


@dg.asset_check(asset=upstream, blocking=True)
def upstream_blocks() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False)


def _blocked(instance: dg.DagsterInstance) -> tuple[bool, list[str], list[bool], list[str]]:
    """Whether the run succeeded, what it materialized, its check results, what was stored."""
    job = dg.Definitions(
        assets=[upstream, downstream], asset_checks=[upstream_blocks]
    ).resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=instance, raise_on_error=False)
    made = sorted(
        event.asset_key.to_user_string()
        for event in result.get_asset_materialization_events()
        if event.asset_key is not None
    )
    passed = [evaluation.passed for evaluation in result.get_asset_check_evaluations()]
    return result.success, made, passed, _stored(instance, result.run_id)


def test_a_failed_blocking_check_stops_what_follows_as_on_the_stock_instance() -> None:
    """The check's evaluation is not stored, yet it blocks the downstream asset all the same."""
    with memory_instance() as ours, dg.DagsterInstance.ephemeral() as stock:
        success, made, passed, stored = _blocked(ours)
        stock_success, stock_made, stock_passed, stock_stored = _blocked(stock)
    assert (success, made, passed) == (stock_success, stock_made, stock_passed)
    assert (success, made, passed) == (False, ["upstream"], [False])
    assert "ASSET_CHECK_EVALUATION" in stock_stored and "ASSET_CHECK_EVALUATION" not in stored


def test_a_watched_run_is_stored_whole() -> None:
    """A watcher (a UI subscription on this instance) gets every event, as on the stock one."""
    with memory_instance() as ours:
        seen: list[str] = []
        job = dg.Definitions(assets=[upstream, downstream]).resolve_implicit_global_asset_job_def()
        run_id = str(uuid.uuid4())
        ours.event_log_storage.watch(run_id, None, lambda entry, _cursor: seen.append(_kind(entry)))
        assert job.execute_in_process(instance=ours, run_id=run_id).success
        assert seen.count("ASSET_MATERIALIZATION_PLANNED") == 2
        assert _stored(ours, run_id) == seen


def test_the_run_s_listeners_get_every_event() -> None:
    """The recorder copies the run from its listener: planned events included."""
    with memory_instance() as ours:
        listened: list[object] = []
        job = dg.Definitions(assets=[upstream, downstream]).resolve_implicit_global_asset_job_def()
        run_id = str(uuid.uuid4())
        ours.add_event_listener(run_id, lambda entry: listened.append(entry.dagster_event_type))
        assert job.execute_in_process(instance=ours, run_id=run_id).success
        assert listened.count(dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED) == 2
        assert "ASSET_MATERIALIZATION_PLANNED" not in _stored(ours, run_id)
