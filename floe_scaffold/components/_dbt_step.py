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

A run given ``exclude`` (``floe run --exclude X``) selects in Dagster the component's assets less
those ``X`` names, a subset, for which dagster-dbt would select each asset's node by name: tests
on sources (no asset of the step) and singular tests over them would be lost. When the step's
subset is exactly what the component's selection less ``X`` keeps, dbt is given that selection
itself (``--select <component's> --exclude <component's> X``), so it runs what plain ``dbt build
--exclude X`` runs. dbt's unit tests are no asset checks (as in dagster-dbt): dbt runs them
before their model in the same command, and a failing one fails the step and skips the model.
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


def _whole_selection(
    context: dg.AssetExecutionContext,
    manifest: Mapping[str, Any],
    project: Any,
    exclude: str,
    args: Sequence[str],
) -> list[str] | None:
    """The component's own selection as dbt flags, or None.

    Given when the step's subset is exactly what that selection keeps less the run's
    ``exclude`` (see the module docstring).
    """
    if not exclude.strip() or _selects_nodes(args):
        return None
    from dagster_dbt.asset_utils import (
        DAGSTER_DBT_EXCLUDE_METADATA_KEY,
        DAGSTER_DBT_SELECT_METADATA_KEY,
    )
    from dagster_dbt.utils import select_unique_ids

    assets_def = context.assets_def
    tags = context.op_execution_context.op.tags
    select = str(tags.get(DAGSTER_DBT_SELECT_METADATA_KEY) or "fqn:*")
    own_exclude = str(tags.get(DAGSTER_DBT_EXCLUDE_METADATA_KEY) or "")
    selected_keys = set(context.selected_asset_keys)
    checks = {spec.key for spec in assets_def.node_check_specs_by_output_name.values()}
    if set(context.selected_asset_check_keys) != {
        check for check in checks if check.asset_key in selected_keys
    }:
        return None  # checks chosen one by one: dagster-dbt's selection names them
    unique_ids = {}
    for key in assets_def.node_keys_by_output_name.values():
        value = assets_def.get_asset_spec(key).metadata.get("dagster_dbt/unique_id")
        if value is not None:
            unique_ids[str(getattr(value, "value", value))] = key
    kept = select_unique_ids(select, f"{own_exclude} {exclude}".strip(), "", project, manifest)
    if {key for unique_id, key in unique_ids.items() if unique_id in kept} != selected_keys:
        return None
    # The run's --exclude is in the command already (dagster-dbt unites both excludes).
    return ["--select", select, *(["--exclude", own_exclude] if own_exclude else [])]


def _without_context(
    resource: Any,
    args: list[str],
    *,
    context: dg.AssetExecutionContext,
    manifest: Mapping[str, Any],
    translator: Any,
    project: Any,
    path: Path,
) -> Any:
    """Start dbt with exactly the selection of ``args``, its events then given to ``context``.

    dagster-dbt adds the step's whole selection to any ``--select`` when it has the context, so
    the invocation is made without it; given it after, it only turns dbt's events into the
    step's outputs and check results.
    """
    invocation = resource.cli(
        args,
        context=None,
        manifest=manifest,
        dagster_dbt_translator=translator,
        target_path=path,
    )
    invocation.context = context
    invocation.project = project
    return invocation


def _selects_nodes(args: Sequence[str]) -> bool:
    """Whether ``args`` (``cli_args`` and the run's flags) select nodes, ``--exclude`` aside."""
    return any(arg.split("=", 1)[0] in _SELECTION_FLAGS[:5] for arg in args)


def _plan(
    context: dg.AssetExecutionContext,
    manifest: Mapping[str, Any],
    args: Sequence[str],
    translator: Any,
    project: Any,
) -> StagePlan | None:
    if _selects_nodes(args):
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
    exclude: str = "",
) -> list[DbtStage]:
    """The step's dbt invocations, in order, not yet started (see the module docstring).

    ``exclude`` is the run's ``--exclude`` (already in ``args``): with it, dbt may be given the
    component's selection rather than the subset's nodes.
    """
    whole = _whole_selection(context, manifest, project, exclude, args)

    def detached(dbt_args: list[str], path: Path) -> Any:
        return _without_context(
            resource,
            dbt_args,
            context=context,
            manifest=manifest,
            translator=translator,
            project=project,
            path=path,
        )

    plan = _plan(context, manifest, args, translator, project)
    if plan is None:
        if whole is not None:
            whole_args = [*args, *whole]
            return [
                _with_path(
                    lambda path: detached(whole_args, path),
                    resource,
                    context,
                )
            ]
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
            with _environment(_INDIRECT, "empty"):  # exactly these nodes, tests named
                return detached(early_args, path)

        starts.append(early)
    built = sorted(plan.built_early)
    last_args = [*args, "--exclude", _names(manifest, built)] if built else list(args)
    # Tests of the last stage with a parent built earlier stay (eager selection would drop them
    # with that parent); unless the user chose an indirect selection of their own.
    indirect = "cautious" if plan.split_tests and _INDIRECT not in os.environ else None

    def last(path: Path) -> Any:
        with _environment(_INDIRECT, indirect):
            if whole is not None:
                return detached([*last_args, *whole], path)
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
