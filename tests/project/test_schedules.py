"""Schedules and automation conditions in ``defs.yaml``: in the definitions, and a tick that runs.

A real project, real dbt on DuckDB: the schedule's tick is evaluated with Dagster's schedule
context, and the run it requests is executed on a Dagster instance; what it materialized is
read back from that run.
"""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from floe_scaffold.components._automation import AutomationSettings, ScheduleSettings
from floe_scaffold.components._component import ComponentAttributeError

pytestmark = pytest.mark.slow


def _with_attributes(demo: Path, tmp_path: Path, **attributes: Any) -> Path:
    project = tmp_path / demo.name
    shutil.copytree(demo, project, ignore=shutil.ignore_patterns(".dagster_home", "*.duckdb"))
    defs_yaml = project / "src" / demo.name / "defs" / "dbt_project" / "defs.yaml"
    loaded = yaml.safe_load(defs_yaml.read_text(encoding="utf-8"))
    loaded["attributes"].update(attributes)
    defs_yaml.write_text(yaml.safe_dump(loaded, sort_keys=False), encoding="utf-8")
    return project


def test_a_schedule_is_in_the_definitions_and_its_tick_runs_its_selection(
    demo_project: Path, tmp_path: Path, loaded_definitions: Any
) -> None:
    project = _with_attributes(
        demo_project,
        tmp_path,
        schedules=[
            {
                "name": "morning_customers",
                "cron": "0 6 * * *",
                "timezone": "Europe/Berlin",
                "select": "+stg_customers",
            }
        ],
    )
    defs = loaded_definitions(project, "jaffle")
    schedule = defs.resolve_schedule_def("morning_customers")
    assert schedule.cron_schedule == "0 6 * * *"
    assert schedule.execution_timezone == "Europe/Berlin"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED

    with dg.instance_for_test() as instance:
        tick = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=datetime.datetime(2026, 1, 5, 6, tzinfo=datetime.timezone.utc),
        )
        requests = schedule.evaluate_tick(tick).run_requests or []
        assert len(requests) == 1
        job = defs.resolve_job_def(requests[0].job_name or schedule.job_name)
        result = job.execute_in_process(instance=instance, tags=requests[0].tags)
    assert result.success
    materialized = {
        event.asset_key.to_user_string() for event in result.get_asset_materialization_events()
    }
    assert materialized == {"raw_customers", "stg_customers"}


def test_an_automation_condition_is_set_on_every_dbt_asset(
    demo_project: Path, tmp_path: Path, loaded_definitions: Any
) -> None:
    project = _with_attributes(
        demo_project, tmp_path, automation={"condition": "on_cron", "cron": "0 * * * *"}
    )
    defs = loaded_definitions(project, "jaffle")
    graph = defs.resolve_asset_graph()
    expected = dg.AutomationCondition.on_cron("0 * * * *", "UTC")
    conditions = {
        key.to_user_string(): graph.get(key).automation_condition
        for key in graph.materializable_asset_keys
    }
    assert len(conditions) == 9
    # the dbt source's asset is external (loaded outside dbt): nothing to automate
    assert graph.get(dg.AssetKey(["shop", "raw_orders"])).automation_condition is None
    assert all(condition == expected for condition in conditions.values()), conditions


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"name": "daily", "cron": "every day"}, "is not a cron expression"),
        ({"name": "daily", "cron": "0 6 * * *", "timezone": "Mars/Olympus"}, "IANA time zone"),
        ({"name": "daily-run", "cron": "0 6 * * *"}, "is not a valid name"),
    ],
)
def test_a_bad_schedule_says_what_is_wrong(settings: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        ScheduleSettings(**settings)


def test_on_cron_needs_its_cron() -> None:
    with pytest.raises(ValueError, match="`cron` goes with `condition: on_cron` only"):
        AutomationSettings(condition="on_cron")
    with pytest.raises(ValueError, match="`cron` goes with `condition: on_cron` only"):
        AutomationSettings(condition="eager", cron="0 * * * *")


@pytest.mark.parametrize(
    ("select", "problem"),
    [("no_such_model", "it selects no dbt model"), ("tag:", "cannot be scheduled")],
)
def test_a_schedule_selecting_nothing_names_the_attribute(
    demo_project: Path, tmp_path: Path, loaded_definitions: Any, select: str, problem: str
) -> None:
    project = _with_attributes(
        demo_project,
        tmp_path,
        schedules=[{"name": "daily", "cron": "0 6 * * *", "select": select}],
    )
    with pytest.raises(Exception) as raised:  # Dagster wraps the component error
        loaded_definitions(project, "jaffle")
    chain: list[BaseException] = []
    error: BaseException | None = raised.value
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ or error.__context__
    ours = [link for link in chain if isinstance(link, ComponentAttributeError)]
    assert ours, chain
    assert ours[0].attribute == "schedules.0.select"
    assert problem in str(ours[0])
