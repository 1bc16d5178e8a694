"""Scheduling the dbt assets the way Dagster users do: schedules and automation conditions.

In ``defs.yaml``, under ``attributes:``::

    schedules:
      - name: daily_customers
        cron: "0 6 * * *"
        timezone: Europe/Berlin
        select: "+customers"        # dbt selection syntax; default: every asset
    automation:
      condition: on_cron            # eager, on_cron or on_missing
      cron: "0 * * * *"             # on_cron only

A schedule is dagster-dbt's ``build_schedule_from_dbt_selection`` (a job over the selected
assets, run on the cron); an automation condition is set on every dbt asset and evaluated by the
daemon (``floe dev`` runs it), as ``AutomationCondition.eager()``, ``.on_cron(cron, timezone)``
or ``.on_missing()``.
"""

# No `from __future__ import annotations`: Dagster resolves these models' annotations at runtime.

import re
import zoneinfo
from collections.abc import Sequence
from typing import Any, Literal

import dagster as dg
from pydantic import Field, field_validator, model_validator

__all__ = ["AutomationSettings", "ScheduleSettings", "build_schedules", "with_automation"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _cron(value: str) -> str:
    from dagster._utils.schedules import is_valid_cron_string

    if not is_valid_cron_string(value):
        raise ValueError(
            f"{value!r} is not a cron expression; use five fields, minute hour day month "
            "weekday, such as '0 6 * * *' (06:00 every day)"
        )
    return value


def _timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{value!r} is not an IANA time zone; use a name such as 'UTC' or 'Europe/Berlin'"
        ) from None
    return value


class ScheduleSettings(dg.Model):
    """A schedule of dbt assets: a job over a dbt selection, run on a cron."""

    name: str = Field(description="The schedule's name (a Python identifier); its job is NAME_job.")
    cron: str = Field(description="When it ticks: a cron expression, such as '0 6 * * *'.")
    timezone: str = Field(default="UTC", description="The IANA time zone of the cron.")
    select: str = Field(default="fqn:*", description="dbt selection of the assets it runs.")
    exclude: str = Field(default="", description="dbt selection of assets it leaves out.")
    default_status: Literal["running", "stopped"] = Field(
        default="stopped",
        description="`running` starts ticking when the code loads; `stopped` (Dagster's "
        "default) waits until it is turned on in the UI.",
    )

    @field_validator("name")
    @classmethod
    def check_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"{value!r} is not a valid name; use letters, digits and _ (not first)"
            )
        return value

    @field_validator("cron")
    @classmethod
    def check_cron(cls, value: str) -> str:
        return _cron(value)

    @field_validator("timezone")
    @classmethod
    def check_timezone(cls, value: str) -> str:
        return _timezone(value)


class AutomationSettings(dg.Model):
    """An automation condition set on every dbt asset, evaluated by the Dagster daemon."""

    condition: Literal["eager", "on_cron", "on_missing"] = Field(
        description="`eager`: when a parent updates; `on_cron`: once per cron tick after its "
        "parents; `on_missing`: when it was never materialized."
    )
    cron: str | None = Field(default=None, description="The cron of `on_cron`.")
    timezone: str = Field(default="UTC", description="The IANA time zone of the cron.")

    @field_validator("cron")
    @classmethod
    def check_cron(cls, value: str | None) -> str | None:
        return None if value is None else _cron(value)

    @field_validator("timezone")
    @classmethod
    def check_timezone(cls, value: str) -> str:
        return _timezone(value)

    @model_validator(mode="after")
    def check_cron_is_given(self) -> "AutomationSettings":
        if (self.condition == "on_cron") != (self.cron is not None):
            raise ValueError(
                "`cron` goes with `condition: on_cron` only: give both (cron: '0 * * * *'), "
                "or neither"
            )
        return self

    def build(self) -> dg.AutomationCondition[Any]:
        """The Dagster automation condition these settings describe."""
        if self.condition == "eager":
            return dg.AutomationCondition.eager()
        if self.condition == "on_missing":
            return dg.AutomationCondition.on_missing()
        return dg.AutomationCondition.on_cron(str(self.cron), self.timezone)


def build_schedules(
    assets: dg.AssetsDefinition, schedules: Sequence[ScheduleSettings]
) -> list[dg.ScheduleDefinition]:
    """One Dagster schedule (and job) per entry of ``schedules``, over its dbt selection."""
    from dagster_dbt import build_schedule_from_dbt_selection

    return [
        build_schedule_from_dbt_selection(
            [assets],
            job_name=f"{schedule.name}_job",
            cron_schedule=schedule.cron,
            dbt_select=schedule.select,
            dbt_exclude=schedule.exclude,
            schedule_name=schedule.name,
            execution_timezone=schedule.timezone,
            default_status=(
                dg.DefaultScheduleStatus.RUNNING
                if schedule.default_status == "running"
                else dg.DefaultScheduleStatus.STOPPED
            ),
        )
        for schedule in schedules
    ]


def with_automation(
    assets: dg.AssetsDefinition, automation: AutomationSettings | None
) -> dg.AssetsDefinition:
    """``assets`` with the automation condition on every asset (unchanged without one)."""
    if automation is None:
        return assets
    condition = automation.build()
    return assets.map_asset_specs(
        lambda spec: spec.replace_attributes(automation_condition=condition)
    )
