"""The dbt step of a run: its run config, and the dbt invocations it makes (one, or staged).

``DbtRunConfig`` is the step's run config (the launchpad shows it; ``floe run --full-refresh
--exclude --vars`` fills the same fields): flags added to the dbt command of ``cli_args`` for
that run only. Where ``cli_args`` gives the same flag, the run's wins: ``--vars`` are merged key
by key, the run's value over the one in ``cli_args``.

``dbt_invocations`` starts the run's dbt commands one after the other. Without a source over a
relation the run itself makes (``_stages``) it is dagster-dbt's one invocation, selection and
all. Otherwise each early stage is its own invocation with exactly its nodes selected
(``--select`` of their names, dbt's indirect test selection off: its tests are named too), and
the last is dagster-dbt's invocation with the early stages' nodes excluded; every invocation's
events are the step's, as those of one. A failed invocation fails the step: the later stages do
not run (their readers would read what did not get built).
"""

# No `from __future__ import annotations`: Dagster reads the config class's field types.

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from floe_scaffold._dbt_vars import merged_vars, without_vars
from floe_scaffold.components._stages import StagePlan, plan_stages

__all__ = ["DbtRunConfig", "DbtStage", "dbt_stages", "run_args"]

#: dbt reads this for the indirect selection of tests (dagster-dbt sets it too).
_INDIRECT = "DBT_INDIRECT_SELECTION"
_SELECTION_FLAGS = ("--select", "-s", "--models", "-m", "--selector", "--exclude")


class DbtRunConfig(dg.Config):
    """Flags for this run's dbt command, added to the component's ``cli_args``."""

    full_refresh: bool = Field(
        default=False,
        description="Add `--full-refresh`: rebuild incremental models and snapshots from scratch, "
        "and reload seeds.",
    )
    vars: dict[str, Any] | None = Field(
        default=None,
        description="dbt `--vars` for this run, merged over any `--vars` of `cli_args` (these "
        "win per key).",
    )
    exclude: str = Field(
        default="",
        description="A dbt selection to leave out of this run's dbt command (`--exclude`).",
    )


def run_args(cli_args: Sequence[str], config: DbtRunConfig) -> list[str]:
    """The dbt command of ``cli_args`` with the run's flags (see the module docstring)."""
    args, _ = without_vars(cli_args)
    dbt_vars = merged_vars(cli_args, config.vars)
    if dbt_vars is not None:
        args += ["--vars", dbt_vars]
    if config.full_refresh and "--full-refresh" not in args and "-f" not in args:
        args.append("--full-refresh")
    if config.exclude.strip():
        args += ["--exclude", config.exclude.strip()]
    return args


@contextlib.contextmanager
def _environment(name: str, value: str | None) -> Iterator[None]:
    """``name`` set to ``value`` while dagster-dbt starts dbt (it copies the environment)."""
    if value is None:
        yield
        return
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _names(manifest: Mapping[str, Any], unique_ids: Sequence[str]) -> str:
    """The dbt selection of exactly these nodes, by fully qualified name (as dagster-dbt's)."""
    nodes = manifest.get("nodes") or {}
    return " ".join(
        "fqn:" + ".".join(nodes[unique_id]["fqn"]) for unique_id in unique_ids if unique_id in nodes
    )


@dataclass(frozen=True)
class DbtStage:
    """One dbt invocation of the step: started by ``start``, writing into ``target_path``."""

    target_path: Path
    start: Callable[[], Any]


def _selected_unique_ids(context: dg.AssetExecutionContext) -> set[str]:
    assets_def = context.assets_def
    found = set()
    for key in context.selected_asset_keys:
        value = assets_def.get_asset_spec(key).metadata.get("dagster_dbt/unique_id")
        if value is not None:
            found.add(str(getattr(value, "value", value)))
    return found


def _wanted_tests(
    context: dg.AssetExecutionContext, manifest: Mapping[str, Any], translator: Any, project: Any
) -> Callable[[str], bool]:
    """Whether the run asked for a test: its asset check is selected (or it has none).

    As dagster-dbt reports them: the selected checks, and those on the sources upstream of the
    selected assets.
    """
    from dagster_dbt.asset_utils import (
        get_asset_check_key_for_test,
        get_checks_on_sources_upstream_of_selected_assets,
    )

    modelled = {spec.key for spec in context.assets_def.node_check_specs_by_output_name.values()}
    selected = {
        *context.selected_asset_check_keys,
        *get_checks_on_sources_upstream_of_selected_assets(
            assets_def=context.assets_def, selected_asset_keys=context.selected_asset_keys
        ),
    }

    def wanted(test: str) -> bool:
        try:
            key = get_asset_check_key_for_test(manifest, translator, test, project=project)
        except Exception:  # noqa: BLE001 - a test dagster-dbt cannot map is run, as dbt would
            return True
        # a test that is no asset check of the step (a source's, say) runs as dbt would run it
        return key is None or key not in modelled or key in selected

    return wanted


def _plan(
    context: dg.AssetExecutionContext,
    manifest: Mapping[str, Any],
    args: Sequence[str],
    translator: Any,
    project: Any,
) -> StagePlan | None:
    if any(arg.split("=", 1)[0] in _SELECTION_FLAGS[:5] for arg in args):
        return None  # cli_args select nodes themselves: one invocation, as dbt would run it
    return plan_stages(
        manifest,
        _selected_unique_ids(context),
        _wanted_tests(context, manifest, translator, project),
    )


def dbt_stages(
    context: dg.AssetExecutionContext,
    *,
    resource: Any,
    args: Sequence[str],
    manifest: Mapping[str, Any],
    translator: Any,
    project: Any,
) -> list[DbtStage]:
    """The step's dbt invocations, in order, not yet started (see the module docstring)."""
    plan = _plan(context, manifest, args, translator, project)
    if plan is None:
        return [
            _with_path(
                lambda path: resource.cli(list(args), context=context, target_path=path),
                resource,
                context,
            )
        ]
    starts: list[Callable[[Path], Any]] = []
    for nodes in plan.early:
        if not nodes:
            continue
        early_args = [*args, "--select", _names(manifest, nodes)]

        def early(path: Path, early_args: list[str] = early_args) -> Any:
            # Exactly these nodes: dagster-dbt would add the step's whole selection to any
            # --select, so the invocation is made without the context, then given it (it only
            # turns dbt's events into the step's outputs and check results).
            with _environment(_INDIRECT, "empty"):
                invocation = resource.cli(
                    early_args,
                    context=None,
                    manifest=manifest,
                    dagster_dbt_translator=translator,
                    target_path=path,
                )
            invocation.context = context
            invocation.project = project
            return invocation

        starts.append(early)
    built = sorted(plan.built_early)
    last_args = [*args, "--exclude", _names(manifest, built)] if built else list(args)
    # Tests of the last stage with a parent built earlier stay (eager selection would drop them
    # with that parent); unless the user chose an indirect selection of their own.
    indirect = "cautious" if plan.split_tests and _INDIRECT not in os.environ else None

    def last(path: Path) -> Any:
        with _environment(_INDIRECT, indirect):
            return resource.cli(last_args, context=context, target_path=path)

    starts.append(last)
    return [_with_path(start, resource, context) for start in starts]


def _with_path(start: Callable[[Path], Any], resource: Any, context: Any) -> DbtStage:
    # The folder dagster-dbt would pick (`target/<op>-<run id>-<random>`), chosen now so that
    # what reads the artifacts after the step knows it before dbt starts.
    path = Path(resource._get_unique_target_path(context=context))
    if not path.is_absolute():
        path = Path(resource.project_dir) / path
    return DbtStage(target_path=path, start=lambda: start(path))
