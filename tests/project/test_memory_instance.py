"""The in-memory instance ``floe run`` executes on stores and answers what the stock one does."""

from __future__ import annotations

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
        "planned": len(
            instance.get_records_for_run(
                second.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
            ).records
        ),
    }


def test_it_answers_as_the_stock_ephemeral_instance_does() -> None:
    with memory_instance() as ours, dg.DagsterInstance.ephemeral() as stock:
        assert type(ours.event_log_storage).__name__ == "_HeldConnectionEventLog"
        assert _run(ours) == _run(stock)
        assert _run(ours)["planned"] == 2
