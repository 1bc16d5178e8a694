"""The project's default executor: Dagster's, but one step at a time runs in the run's process.

Dagster's default (``multi_or_in_process_executor`` in ``multiprocess`` mode) starts a process
per step. That process loads the code location again, builds the execution plan again, and
sends every event it logs back to the run worker through a queue. A dbt project is one step,
or a chain of them (``_stages.py``): no two of its steps can ever run at the same time, so the
extra process buys nothing but that cost, which grows with the project (see the README's
"Running at scale" for the figures).

Run config keeps Dagster's two modes and adds the default ``auto``, which takes the
``multiprocess`` settings:

* ``auto``: in the run's process when every level of the plan has one step (the steps form a
  chain), else a process per step as Dagster does;
* ``multiprocess`` / ``in_process``: exactly Dagster's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster._core.definitions.executor_definition import (
    IN_PROC_CONFIG,
    MULTI_PROC_CONFIG,
    _core_in_process_executor_creation,
    _core_multiprocess_executor_creation,
    multiple_process_executor_requirements,
)
from dagster._core.execution.retries import RetryMode
from dagster._core.execution.step_dependency_config import StepDependencyConfig

if TYPE_CHECKING:
    from dagster._core.events import DagsterEvent
    from dagster._core.execution.context.system import PlanOrchestrationContext
    from dagster._core.execution.plan.plan import ExecutionPlan

__all__ = ["EXECUTOR_NAME", "floe_executor", "runs_in_process"]

EXECUTOR_NAME = "floe_auto_executor"


def runs_in_process(execution_plan: ExecutionPlan) -> bool:
    """Whether the plan's steps can only run one at a time (one step per level)."""
    return all(len(level) <= 1 for level in execution_plan.get_steps_to_execute_by_level())


class AutoExecutor(dg.Executor):
    """In-process for a chain of steps, a process per step otherwise (module docstring)."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self._in_process = _core_in_process_executor_creation(
            {
                "retries": config["retries"],
                "step_dependency_config": config.get("step_dependency_config"),
            }
        )
        self._multiprocess = _core_multiprocess_executor_creation(config)

    @property
    def retries(self) -> RetryMode:
        return self._multiprocess.retries

    @property
    def step_dependency_config(self) -> StepDependencyConfig:
        return self._multiprocess.step_dependency_config

    def execute(
        self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan
    ) -> Iterator[DagsterEvent]:
        chosen = self._in_process if runs_in_process(execution_plan) else self._multiprocess
        return chosen.execute(plan_context, execution_plan)


def _requirements(config: Mapping[str, Any]) -> Any:
    # A process per step needs a persistent instance; ``auto`` may start processes too.
    return [] if "in_process" in config else multiple_process_executor_requirements()


@dg.executor(
    name=EXECUTOR_NAME,
    config_schema=dg.Field(
        dg.Selector(  # type: ignore[no-untyped-call]
            {
                "auto": MULTI_PROC_CONFIG,
                "multiprocess": MULTI_PROC_CONFIG,
                "in_process": IN_PROC_CONFIG,
            }
        ),
        default_value={"auto": {}},
    ),
    requirements=_requirements,
)
def floe_executor(init_context: dg.InitExecutorContext) -> dg.Executor:
    """Dagster's default executor with ``auto`` (module docstring) as the default mode."""
    config: Mapping[str, Any] = init_context.executor_config
    mode, settings = next(iter(config.items()))
    if mode == "in_process":
        return _core_in_process_executor_creation(settings)
    if mode == "multiprocess":
        return _core_multiprocess_executor_creation(settings)
    return AutoExecutor(settings)
