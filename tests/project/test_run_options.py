"""How a run's dbt flags become the dbt command and the dbt step's run config (no dbt runs).

``run_args`` (components/_dbt_step.py) adds the run config's flags to the component's
``cli_args``; ``run_config`` (project/_run_options.py) gives floe run's flags to each dbt step of
real Dagster definitions, and refuses them when no step takes them.
"""

# No `from __future__ import annotations`: Dagster reads the step's config annotation.

import json
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest

from floe_scaffold._dbt_vars import VarsError, merged_vars, without_vars
from floe_scaffold.components._dbt_step import DbtRunConfig, run_args
from floe_scaffold.project._run_options import RunOptionError, RunOptions, run_config


def _vars_in(args: list[str]) -> dict[str, Any]:
    _, value = without_vars(args)
    assert value is not None, args
    loaded = json.loads(value)
    assert isinstance(loaded, dict)
    return loaded


def test_the_runs_vars_are_merged_over_those_of_cli_args_key_by_key() -> None:
    for cli_args in (
        ["build", "--vars", "{a: 1, b: old}"],
        ["build", "--vars={a: 1, b: old}"],
        ["build", "--vars", "{a: 0}", "--vars", "{a: 1, b: old}"],  # the last one wins, as dbt
    ):
        args = run_args(cli_args, DbtRunConfig(vars={"b": "new", "c": [1, 2]}))
        assert args.count("--vars") == 1 and not any(a.startswith("--vars=") for a in args)
        assert args[0] == "build"
        assert _vars_in(args) == {"a": 1, "b": "new", "c": [1, 2]}


def test_without_run_config_the_command_is_cli_args() -> None:
    assert run_args(["build", "--vars", "{a: 1}"], DbtRunConfig()) == ["build", "--vars", "{a: 1}"]
    assert run_args(["build"], DbtRunConfig()) == ["build"]
    assert merged_vars(["build"], None) is None


def test_full_refresh_and_exclude_are_added_once() -> None:
    config = DbtRunConfig(full_refresh=True, exclude="  customers tag:slow ")
    assert run_args(["build"], config) == [
        "build",
        "--full-refresh",
        "--exclude",
        "customers tag:slow",
    ]
    assert run_args(["build", "--full-refresh"], config).count("--full-refresh") == 1
    assert "--full-refresh" not in run_args(["build", "-f"], config)
    assert "--exclude" not in run_args(["build"], DbtRunConfig(exclude="  "))


def test_a_cli_args_vars_that_is_no_mapping_is_named_when_the_run_adds_vars() -> None:
    with pytest.raises(VarsError, match="--vars of cli_args"):
        run_args(["build", "--vars", "[1, 2]"], DbtRunConfig(vars={"a": 1}))


# -- run_config over real Dagster definitions ---------------------------------------------------


@dg.multi_asset(specs=[dg.AssetSpec("built"), dg.AssetSpec("also_built")], can_subset=True)
def dbt_like(context: dg.AssetExecutionContext, config: DbtRunConfig) -> Iterator[Any]:
    """A step with floe's dbt run config (as the component's dbt step has)."""
    for key in context.selected_asset_keys:
        yield dg.MaterializeResult(asset_key=key, metadata={"vars": json.dumps(config.vars)})


@dg.asset
def plain() -> None:
    """A step without it (a project not on floe's component)."""


def test_run_config_gives_the_options_to_each_step_that_takes_them() -> None:
    options = RunOptions(exclude="customers", full_refresh=True, dbt_vars={"x": 1})
    config = run_config([dbt_like, plain], None, options)
    assert config == {
        "ops": {
            "dbt_like": {"config": {"full_refresh": True, "vars": {"x": 1}, "exclude": "customers"}}
        }
    }
    # the config is what the step accepts: a run with it succeeds and the step sees the vars
    result = dg.materialize([dbt_like, plain], run_config=config)
    assert result.success
    seen = {
        event.asset_key: event.materialization.metadata.get("vars")
        for event in result.get_asset_materialization_events()
    }
    assert seen[dg.AssetKey("built")] == dg.TextMetadataValue('{"x": 1}')
    assert run_config([dbt_like, plain], None, RunOptions()) == {}
    # a step the selection leaves out gets nothing
    with pytest.raises(RunOptionError, match="--full-refresh"):
        run_config([dbt_like, plain], [dg.AssetKey("plain")], RunOptions(full_refresh=True))


def test_options_no_step_takes_are_refused_with_the_fix() -> None:
    with pytest.raises(RunOptionError) as refused:
        run_config([plain], None, RunOptions(full_refresh=True, dbt_vars={"a": 1}))
    message = str(refused.value)
    assert "--full-refresh, --vars" in message
    assert "FloeDbtProject" in message and "floe update" in message
