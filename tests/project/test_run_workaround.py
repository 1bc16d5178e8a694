"""The run-time half of the Dagster workaround: cached keys, the same run, the same checks.

``components/_dagster_workaround.py`` caches ``AssetsDefinition.asset_and_check_keys`` and a step
context's ``get_output_asset_keys``, which Dagster recomputed for every output a multi-asset step
yields (quadratic in a dbt project's size). A run must be event for event what Dagster's own code
makes, and the ordering check those keys serve must still refuse a misordered multi-asset.
"""

from collections.abc import Iterator
from functools import cached_property
from typing import Any

import dagster as dg
import pytest
from dagster import AssetExecutionContext
from dagster._core.definitions.assets.definition.assets_definition import AssetsDefinition
from dagster._core.errors import DagsterInvariantViolationError

from floe_scaffold.components._dagster_workaround import install_workaround, without_workaround

_SPECS = [
    dg.AssetSpec("first"),
    dg.AssetSpec("second", deps=["first"]),
    dg.AssetSpec("third", deps=["second"]),
]
_CHECKS = [dg.AssetCheckSpec("positive", asset=spec.key) for spec in _SPECS]


@dg.multi_asset(specs=_SPECS, check_specs=_CHECKS, can_subset=True)
def in_order(context: AssetExecutionContext) -> Iterator[Any]:
    for key in ("first", "second", "third"):
        if dg.AssetKey(key) in context.selected_asset_keys:
            yield dg.MaterializeResult(asset_key=key, metadata={"rows": len(key)})
            yield dg.AssetCheckResult(asset_key=key, check_name="positive", passed=True)


@dg.multi_asset(
    specs=[dg.AssetSpec("late_first"), dg.AssetSpec("late_second", deps=["late_first"])],
    name="out_of_order",
)
def out_of_order() -> Iterator[Any]:
    yield dg.MaterializeResult(asset_key="late_second")
    yield dg.MaterializeResult(asset_key="late_first")


def _events(selection: list[str] | None) -> list[tuple[str, str | None]]:
    job = dg.Definitions(assets=[in_order]).resolve_implicit_global_asset_job_def()
    keys = [dg.AssetKey(name) for name in selection] if selection else None
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(instance=instance, asset_selection=keys)
    assert result.success
    return [
        (event.event_type_value, str(event.asset_key) if event.asset_key else None)
        for event in result.all_events
        if event.event_type_value not in {"ENGINE_EVENT", "LOGS_CAPTURED"}
    ]


def test_the_run_caches_are_in_place_on_the_installed_dagster() -> None:
    from dagster._core.execution.context.system import StepExecutionContext

    assert install_workaround()
    assert isinstance(AssetsDefinition.__dict__["asset_and_check_keys"], cached_property)
    original = StepExecutionContext.__dict__["get_output_asset_keys"]
    with without_workaround():
        assert isinstance(AssetsDefinition.__dict__["asset_and_check_keys"], property)
        assert StepExecutionContext.__dict__["get_output_asset_keys"] is not original
    assert StepExecutionContext.__dict__["get_output_asset_keys"] is original


@pytest.mark.parametrize("selection", [None, ["second", "third"], ["first"]])
def test_a_multi_asset_run_is_event_for_event_dagsters_own(selection: list[str] | None) -> None:
    assert install_workaround()
    ours = _events(selection)
    with without_workaround():
        reference = _events(selection)
    assert ours == reference
    materialized = [key for kind, key in ours if kind == "ASSET_MATERIALIZATION"]
    expected = selection or ["first", "second", "third"]
    assert materialized == [str(dg.AssetKey(name)) for name in expected]


def test_a_misordered_multi_asset_is_still_refused() -> None:
    assert install_workaround()
    job = dg.Definitions(assets=[out_of_order]).resolve_implicit_global_asset_job_def()
    with pytest.raises(DagsterInvariantViolationError, match="was yielded before its dependency"):
        job.execute_in_process()
