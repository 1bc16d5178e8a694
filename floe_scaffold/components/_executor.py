"""The project's default executor: Dagster's, but one step at a time runs in the run's process.

Dagster's default (``multi_or_in_process_executor`` in ``multiprocess`` mode) starts a process
per step. That process loads the code location again, builds the execution plan again, and
sends every event it logs back to the run worker through a queue. A dbt project is one step,
or a chain of them (``_stages.py``): no two of its steps can ever run at the same time, so the
extra process buys nothing but that cost, which grows with the project (see "Running at scale"
in ``docs/explanation/performance.md`` for the figures).

Run config keeps Dagster's two modes and adds the default ``auto``, which takes the
``multiprocess`` settings:

* ``auto``: in the run's process when every level of the plan has one step (the steps form a
  chain), else a process per step as Dagster does;
* ``multiprocess`` / ``in_process``: exactly Dagster's.

Whichever runs the steps, the executor sees the whole run: with lineage on, it sends the Dagster
run's own OpenLineage START before the first step and COMPLETE, FAIL (a step failed) or ABORT
(the run was stopped) after the last (``lineage/_dagster_run``). ``floe run`` sends the same
around its in-process execution, with the definition's :attr:`FloeExecutorDefinition.run_lineage`.
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

from floe_scaffold.lineage._dagster_run import DagsterRun, DagsterRunLineage

if TYPE_CHECKING:
    from dagster._core.events import DagsterEvent
    from dagster._core.execution.context.system import PlanOrchestrationContext
    from dagster._core.execution.plan.plan import ExecutionPlan

__all__ = [
    "EXECUTOR_NAME",
    "FloeExecutorDefinition",
    "floe_executor",
    "floe_executor_for",
    "runs_in_process",
]

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


class _RunLineageExecutor(dg.Executor):
    """``inner``, with the Dagster run's START before its steps and its end after them."""

    def __init__(self, inner: dg.Executor, lineage: DagsterRunLineage) -> None:
        self._inner, self._lineage = inner, lineage

    @property
    def retries(self) -> RetryMode:
        return self._inner.retries

    @property
    def step_dependency_config(self) -> StepDependencyConfig:
        return self._inner.step_dependency_config

    def execute(
        self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan
    ) -> Iterator[DagsterEvent]:
        dagster_run = plan_context.dagster_run
        run = DagsterRun(dagster_run.run_id, dagster_run.job_name)
        self._lineage.started(run)
        failures: list[str] = []
        try:
            for event in self._inner.execute(plan_context, execution_plan):
                if event.is_step_failure:
                    failures.append(step_failure_text(event))
                yield event
        except (GeneratorExit, KeyboardInterrupt) as stop:
            self._lineage.aborted(run, f"the run was stopped ({type(stop).__name__})")
            raise
        except BaseException as error:
            self._lineage.ended(run, success=False, error=str(error) or type(error).__name__)
            raise
        self._lineage.ended(run, success=not failures, error="\n".join(failures) or None)


def step_failure_text(event: DagsterEvent) -> str:
    """``step <key> failed: <message>`` of a STEP_FAILURE event.

    The message is the error's innermost cause's: the user's or dbt's error, not Dagster's
    wrapper around it.
    """
    error = event.step_failure_data.error
    while error is not None and error.cause is not None:
        error = error.cause
    message = error.message.strip() if error is not None else ""
    return f"step {event.step_key} failed" + (f": {message}" if message else "")


class FloeExecutorDefinition(dg.ExecutorDefinition):
    """floe's executor definition; ``run_lineage`` sends each run's own lineage (or None)."""

    def __init__(self, run_lineage: DagsterRunLineage | None) -> None:
        super().__init__(
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
            executor_creation_fn=self._create,
            requirements=_requirements,
            description="Dagster's default executor with `auto` as the default mode: in the "
            "run's process for a chain of steps, a process per step otherwise.",
        )
        self.run_lineage = run_lineage

    def _create(self, init_context: dg.InitExecutorContext) -> dg.Executor:
        """Dagster's default executor with ``auto`` (module docstring) as the default mode."""
        config: Mapping[str, Any] = init_context.executor_config
        mode, settings = next(iter(config.items()))
        chosen: dg.Executor
        if mode == "in_process":
            chosen = _core_in_process_executor_creation(settings)
        elif mode == "multiprocess":
            chosen = _core_multiprocess_executor_creation(settings)
        else:
            chosen = AutoExecutor(settings)
        if self.run_lineage is None or not self.run_lineage.target.enabled:
            return chosen
        return _RunLineageExecutor(chosen, self.run_lineage)


def _requirements(config: Mapping[str, Any]) -> Any:
    # A process per step needs a persistent instance; ``auto`` may start processes too.
    return [] if "in_process" in config else multiple_process_executor_requirements()


def floe_executor_for(run_lineage: DagsterRunLineage | None) -> FloeExecutorDefinition:
    """The project's executor, sending each run's own lineage with ``run_lineage`` (or none)."""
    return FloeExecutorDefinition(run_lineage)


#: floe's executor without run lineage.
floe_executor = floe_executor_for(None)
