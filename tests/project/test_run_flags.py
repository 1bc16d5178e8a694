"""floe run's dbt flags on real dbt and Dagster: --full-refresh, --exclude, --vars, and the same
fields of the dbt step's run config as the UI's launchpad sends them.

Each test runs a copy of the demo (its incremental model ``daily_orders`` included) on DuckDB and
looks at what dbt wrote: the warehouse, dbt's ``run_results.json`` and the run floe recorded.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
import yaml

from floe_scaffold.errors import EXIT_INVALID_INPUT
from floe_scaffold.project._run_options import RunOptions, parse_vars
from tests.project.conftest import BIN, copy_project, run_in

pytestmark = pytest.mark.slow

#: Echoes two dbt variables into the warehouse (a YAML date among them).
_ECHO = """\
{{ config(materialized='table') }}
select
    '{{ var("greeting", "unset") }}' as greeting,
    '{{ var("start_date", "unset") }}' as start_date
"""

#: An incremental model whose columns a variable changes: with `wide` its table has one more
#: column, which the incremental run refuses (`on_schema_change='fail'`) until a full refresh.
_WIDENING = """\
{{ config(materialized='incremental', on_schema_change='fail') }}
select
    order_date,
    count(*) as number_of_orders
    {% if var('wide', false) %}, sum(amount) as amount{% endif %}
from {{ ref('orders') }}
group by order_date
"""


def _warehouse(project: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(project / "dbt" / "warehouse.duckdb"), read_only=True)


def _tables(project: Path) -> set[str]:
    with _warehouse(project) as db:
        rows = db.execute("select table_name from information_schema.tables").fetchall()
    return {str(row[0]) for row in rows}


def _columns(project: Path, table: str) -> list[str]:
    with _warehouse(project) as db:
        rows = db.execute(
            "select column_name from information_schema.columns where table_name = ? "
            "order by ordinal_position",
            [table],
        ).fetchall()
    return [str(row[0]) for row in rows]


def _run_result_ids(project: Path) -> set[str]:
    """The unique ids dbt reported on in every invocation so far (one target folder each)."""
    found: set[str] = set()
    for path in (project / "dbt" / "target").glob("*/run_results.json"):
        results = json.loads(path.read_text(encoding="utf-8"))["results"]
        found.update(str(result["unique_id"]) for result in results)
    return found


def _output(done: Any) -> str:
    return str(done.stdout) + str(done.stderr)


def test_full_refresh_mends_an_incremental_model_whose_columns_changed(
    demo_project: Path, tmp_path: Path
) -> None:
    project = copy_project(demo_project, tmp_path)
    floe = str(BIN / "floe")
    first = run_in(project, floe, "run")
    assert first.returncode == 0, _output(first)
    assert "largest_amount" not in _columns(project, "daily_orders")

    # What a user does: adds a column to the incremental model, which refuses schema changes.
    model = project / "dbt" / "models" / "marts" / "daily_orders.sql"
    text = model.read_text(encoding="utf-8")
    changed = text.replace(
        "materialized='incremental'", "materialized='incremental', on_schema_change='fail'"
    ).replace("sum(amount) as amount", "sum(amount) as amount,\n    max(amount) as largest_amount")
    assert changed.count("largest_amount") == 1 and "on_schema_change" in changed
    model.write_text(changed, encoding="utf-8")

    refused = run_in(project, floe, "run", "--select", "daily_orders")
    output = _output(refused)
    assert refused.returncode == 1, output
    assert "out of sync" in output, "dbt's own reason reaches the user"
    assert "the run failed: model daily_orders" in output
    assert "Traceback" not in output
    assert "largest_amount" not in _columns(project, "daily_orders")

    mended = run_in(project, floe, "run", "--full-refresh")
    assert mended.returncode == 0, _output(mended)
    assert _columns(project, "daily_orders") == [
        "order_date",
        "number_of_orders",
        "amount",
        "largest_amount",
    ]
    with _warehouse(project) as db:
        days = db.execute("select count(distinct order_date) from orders").fetchone()
        rows = db.execute("select count(*), count(largest_amount) from daily_orders").fetchone()
    assert days is not None and rows == (days[0], days[0])


def test_exclude_and_vars_reach_dbt_and_narrow_the_run(demo_project: Path, tmp_path: Path) -> None:
    project = copy_project(demo_project, tmp_path)
    (project / "dbt" / "models" / "marts" / "echo_vars.sql").write_text(_ECHO, encoding="utf-8")
    shutil.rmtree(project / "dbt" / "target", ignore_errors=True)
    done = run_in(
        project,
        str(BIN / "floe"),
        "run",
        "--exclude",
        "customers daily_orders",
        # a YAML date: dbt gets its text, and the run (its config holds the vars) is stored
        "--vars",
        "{greeting: hello from floe, start_date: 2024-01-01}",
    )
    assert done.returncode == 0, _output(done)

    tables = _tables(project)
    assert {"orders", "stg_orders", "raw_orders", "echo_vars"} <= tables
    assert not {"customers", "daily_orders"} & tables, tables
    with _warehouse(project) as db:
        echoed = db.execute("select greeting, start_date from echo_vars").fetchall()
    assert echoed == [("hello from floe", "2024-01-01")]

    ran = _run_result_ids(project)
    assert {"model.jaffle.orders", "model.jaffle.echo_vars", "seed.jaffle.raw_orders"} <= ran
    assert not {"model.jaffle.customers", "model.jaffle.daily_orders"} & ran, ran

    with dg.DagsterInstance.from_config(str(project / ".dagster_home")) as instance:
        (record,) = instance.get_run_records()
        assert record.dagster_run.is_success
        assert record.dagster_run.asset_selection is not None
        assert dg.AssetKey("customers") not in record.dagster_run.asset_selection
        for name in ("orders", "echo_vars", "raw_orders"):
            assert instance.get_latest_materialization_event(dg.AssetKey(name)) is not None
        for name in ("customers", "daily_orders"):
            assert instance.get_latest_materialization_event(dg.AssetKey(name)) is None, name


def _dbt_step(definitions: Any) -> str:
    """The name of the op that runs dbt (the step whose config the launchpad shows)."""
    names = [
        assets.op.name
        for assets in definitions.assets or ()
        if isinstance(assets, dg.AssetsDefinition)
        and "full_refresh" in getattr(assets.op.config_schema.config_type, "fields", {})
    ]
    assert len(names) == 1, names
    return str(names[0])


def test_the_launchpads_run_config_gives_dbt_full_refresh_vars_and_exclude(
    demo_project: Path, tmp_path: Path, loaded_definitions: Any
) -> None:
    project = copy_project(demo_project, tmp_path)
    (project / "dbt" / "models" / "marts" / "widening.sql").write_text(_WIDENING, encoding="utf-8")
    shutil.rmtree(project / "dbt" / "target")  # parsed anew as the definitions load
    definitions = loaded_definitions(project, "jaffle")
    job = definitions.resolve_implicit_global_asset_job_def()
    step = _dbt_step(definitions)
    widening = [dg.AssetKey("widening")]

    def launch(config_yaml: str, selection: list[dg.AssetKey] | None) -> bool:
        # as the launchpad sends it: YAML typed by the user, parsed into the run config
        run_config = yaml.safe_load(config_yaml.format(step=step)) or {}
        with dg.DagsterInstance.ephemeral() as instance:
            result = job.execute_in_process(
                run_config=run_config,
                instance=instance,
                asset_selection=selection,
                raise_on_error=False,
            )
        return bool(result.success)

    # the whole job, with the launchpad's exclude: dbt leaves that model out
    exclude = "ops: {{{step}: {{config: {{exclude: customers}}}}}}"
    assert launch(exclude, None), "the first run builds everything else"
    assert _columns(project, "widening") == ["order_date", "number_of_orders"]
    assert "orders" in _tables(project) and "customers" not in _tables(project)

    widen = "ops: {{{step}: {{config: {{vars: {{wide: true}}}}}}}}"
    assert not launch(widen, widening), "the vars reached dbt: the table's columns changed"
    assert _columns(project, "widening") == ["order_date", "number_of_orders"]

    refresh = (
        "ops:\n  {step}:\n    config:\n      full_refresh: true\n      vars:\n        wide: true\n"
    )
    assert launch(refresh, widening), "a full refresh rebuilds the table with its new column"
    assert _columns(project, "widening") == ["order_date", "number_of_orders", "amount"]


@pytest.mark.parametrize("value", ["[1,2]", "a: [unclosed"])
def test_vars_that_are_no_yaml_mapping_are_refused_before_anything_runs(
    demo_project: Path, tmp_path: Path, value: str
) -> None:
    project = copy_project(demo_project, tmp_path)
    shutil.rmtree(project / "dbt" / "target", ignore_errors=True)
    done = run_in(project, str(BIN / "floe"), "run", "--vars", value)
    output = _output(done)
    assert done.returncode == EXIT_INVALID_INPUT == 1, output
    assert "--vars" in output and repr(value) in output
    assert "YAML" in output
    assert "floe run --vars '{" in output, "shows how to write one"
    assert "Traceback" not in output
    assert "Running with dbt" not in output
    assert not (project / "dbt" / "target").exists(), "dbt did not start"
    assert not (project / ".dagster_home").exists(), "no run recorded"


def test_vars_hold_what_a_run_config_can_store() -> None:
    """A YAML date or time in --vars is its text, as dbt gets it: a run's config stores it."""
    from dagster._serdes import serialize_value

    parsed = parse_vars("{start_date: 2024-01-01, at: 2024-01-01 10:30:00, days: [1, 2]}")
    assert parsed == {"start_date": "2024-01-01", "at": "2024-01-01 10:30:00", "days": [1, 2]}
    serialize_value(RunOptions(dbt_vars=parsed).config())  # raised on a datetime.date before


@pytest.mark.parametrize("flags", [("--select", "nothing_here"), ("--exclude", "fqn:*")])
def test_a_selection_of_no_asset_runs_nothing(
    demo_project: Path, tmp_path: Path, flags: tuple[str, str]
) -> None:
    """Not every asset: Dagster takes an empty asset selection for none at all."""
    project = copy_project(demo_project, tmp_path)
    done = run_in(project, str(BIN / "floe"), "run", *flags)
    output = _output(done)
    assert done.returncode == EXIT_INVALID_INPUT, output
    assert f"{flags[0]} {flags[1]!r}: no asset of the project is selected" in output
    assert "Running with dbt" not in output and "Traceback" not in output
    assert not (project / "dbt" / "warehouse.duckdb").exists(), "dbt built nothing"
    assert not (project / ".dagster_home").exists(), "no run recorded"
