"""Sources over relations the project itself makes, and floe run's dbt flags, on real dbt.

The demo, changed the way real projects are written: ``stg_orders`` reads its source without the
``-- depends_on`` comment that ordered the seed first; ``stg_payments`` reads a source whose table
has another name than the seed it reads (``identifier: raw_payments``); ``vip_customers`` reads a
source over the model ``customers``. On an empty warehouse one ``floe run`` must build the seeds,
then what reads them, then what reads ``customers``: one ``dbt build`` would not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
import yaml

from floe_scaffold.project import init_project
from tests.project.conftest import BIN, run_in

pytestmark = pytest.mark.slow

_SOURCES = """
  - name: landing
    schema: "{{ target.schema }}"
    tables:
      - name: payments_feed
        identifier: RAW_PAYMENTS
        columns:
          - name: id
            data_tests: [not_null]
  - name: marts_out
    schema: "{{ target.schema }}"
    tables:
      - name: customer_list
        identifier: customers
"""

_VIP = """
select customer_id, lifetime_value
from {{ source('marts_out', 'customer_list') }}
where lifetime_value > 0
"""

_VIP_YML = """
version: 2
models:
  - name: vip_customers
    columns:
      - name: customer_id
        data_tests:
          - relationships:
              arguments:
                to: ref('raw_customers')
                field: id
"""

#: A dbt unit test of ``customers``, a producer (a source reads its table): built in the first
#: stage, its unit test must run there, before it, as in one ``dbt build``.
_CUSTOMERS_UNIT = """
unit_tests:
  - name: customers_add_up_their_orders
    model: customers
    given:
      - input: ref('stg_customers')
        rows:
          - {customer_id: 1, first_name: Ann, last_name: Lee, email: ann@example.com}
      - input: ref('orders')
        rows:
          - {order_id: 10, customer_id: 1, amount: 5}
          - {order_id: 11, customer_id: 1, amount: 7}
    expect:
      rows:
        - {customer_id: 1, number_of_orders: 2, lifetime_value: 12}
"""


def _made_sources_project(root: Path) -> Path:
    project = root / "made"
    init_project(project, git=False)
    models = project / "dbt" / "models"
    orders = models / "staging" / "stg_orders.sql"
    orders.write_text(
        "\n".join(line for line in orders.read_text().splitlines() if "depends_on" not in line),
        encoding="utf-8",
    )
    payments = models / "staging" / "stg_payments.sql"
    payments.write_text(
        payments.read_text().replace(
            "{{ ref('raw_payments') }}", "{{ source('landing', 'payments_feed') }}"
        ),
        encoding="utf-8",
    )
    sources = models / "staging" / "_sources.yml"
    sources.write_text(sources.read_text() + _SOURCES, encoding="utf-8")
    (models / "marts" / "vip_customers.sql").write_text(_VIP, encoding="utf-8")
    (models / "marts" / "_vip.yml").write_text(_VIP_YML, encoding="utf-8")
    (models / "marts" / "_customers_unit.yml").write_text(_CUSTOMERS_UNIT, encoding="utf-8")
    return project


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _made_sources_project(tmp_path_factory.mktemp("made"))


def _warehouse(project: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(project / "dbt" / "warehouse.duckdb"), read_only=True)


def _run_results(project: Path) -> list[dict[str, Any]]:
    """Every node result of the runs so far (each dbt invocation has its own target folder)."""
    results = []
    for path in sorted((project / "dbt" / "target").glob("*/run_results.json")):
        results.extend(json.loads(path.read_text(encoding="utf-8"))["results"])
    return results


@pytest.mark.requirement("FR-007")
def test_one_floe_run_builds_producers_before_the_sources_readers(made: Path) -> None:
    done = run_in(made, str(BIN / "floe"), "run")
    assert done.returncode == 0, done.stdout + done.stderr
    with _warehouse(made) as db:
        vip = db.execute("select count(*) from vip_customers").fetchone()
        payments = db.execute("select count(*) from stg_payments").fetchone()
    assert vip is not None and vip[0] > 0
    assert payments is not None and payments[0] > 0
    statuses = {result["unique_id"]: result["status"] for result in _run_results(made)}
    # the source's own test and the test across stages (a seed and vip_customers) both ran
    assert any(
        key.startswith("test.made.source_not_null_landing_payments_feed_id") and value == "pass"
        for key, value in statuses.items()
    ), statuses
    assert any(
        key.startswith("test.made.relationships_vip_customers") and value == "pass"
        for key, value in statuses.items()
    ), statuses
    # the unit test of a producer built in the first stage ran (dbt build runs it before it)
    assert statuses.get("unit_test.made.customers.customers_add_up_their_orders") == "pass", (
        statuses
    )


def test_the_asset_graph_links_each_source_to_what_makes_it(
    made: Path, loaded_definitions: Any
) -> None:
    graph = loaded_definitions(made, "made").resolve_asset_graph()
    links = {
        ("landing", "payments_feed"): {dg.AssetKey("raw_payments")},
        ("marts_out", "customer_list"): {dg.AssetKey("customers")},
        ("shop", "raw_orders"): {dg.AssetKey("raw_orders")},
    }
    for path, parents in links.items():
        source = graph.get(dg.AssetKey(list(path)))
        assert source.parent_keys == parents
        assert not source.is_materializable
    assert (
        dg.AssetKey(["marts_out", "customer_list"])
        in graph.get(dg.AssetKey("vip_customers")).parent_keys
    )


def test_a_failed_stage_fails_the_step_and_the_later_stages_do_not_run(tmp_path: Path) -> None:
    """``customers`` is a producer (a source reads it): built in the first stage. It fails, so
    the second stage (what reads the sources over the run's own relations) never starts."""
    project = _made_sources_project(tmp_path)
    (project / "dbt/models/marts/_customers_unit.yml").unlink()  # else it fails before the model
    (project / "dbt/models/marts/customers.sql").write_text(
        "select no_such_column from {{ ref('stg_customers') }}\n", encoding="utf-8"
    )
    done = run_in(project, str(BIN / "floe"), "run")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "model customers:" in done.stdout, output
    invocations = list((project / "dbt" / "target").glob("*/run_results.json"))
    assert len(invocations) == 1, "one stage ran: the first"
    statuses = {result["unique_id"]: result["status"] for result in _run_results(project)}
    assert statuses["model.made.customers"] == "error", statuses
    assert statuses["seed.made.raw_payments"] == "success", "the first stage's other producers"
    assert "model.made.stg_payments" not in statuses, "it reads a source: the second stage's"
    assert "model.made.vip_customers" not in statuses, statuses


def _invocations(project: Path) -> set[Path]:
    return set((project / "dbt" / "target").glob("*/run_results.json"))


def test_a_project_dbt_orders_and_cli_args_that_select_keep_one_invocation(tmp_path: Path) -> None:
    """Stages only where they are needed: the demo's source over its seed is ordered by a
    ``-- depends_on`` comment (one invocation); the made-sources project needs three, unless its
    ``cli_args`` select nodes themselves (the user's selection is given to dbt as it is)."""
    demo = tmp_path / "demo"
    init_project(demo, git=False)
    assert "depends_on" in (demo / "dbt/models/staging/stg_orders.sql").read_text()
    done = run_in(demo, str(BIN / "floe"), "run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(_invocations(demo)) == 1
    project = _made_sources_project(tmp_path)
    done = run_in(project, str(BIN / "floe"), "run")
    assert done.returncode == 0, done.stdout + done.stderr
    staged = _invocations(project)
    assert len(staged) == 3, "sources read a seed and a model the run makes: three stages"
    (defs,) = (project / "src").glob("*/defs/*/defs.yaml")
    component = yaml.safe_load(defs.read_text(encoding="utf-8"))
    component["attributes"]["cli_args"] = ["build", "--select", "+vip_customers"]
    defs.write_text(yaml.safe_dump(component), encoding="utf-8")
    done = run_in(project, str(BIN / "floe"), "run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(_invocations(project) - staged) == 1, "the user's own selection: one invocation"


def test_a_failing_unit_test_fails_the_step_skips_its_model_and_is_named(tmp_path: Path) -> None:
    """dbt runs a model's unit tests in the same `dbt build`, before the model: one that fails
    fails the dbt step, its model is skipped, and `floe run` names it with its model."""
    project = _made_sources_project(tmp_path)
    unit = project / "dbt/models/marts/_customers_unit.yml"
    unit.write_text(
        unit.read_text(encoding="utf-8").replace("lifetime_value: 12", "lifetime_value: 13"),
        encoding="utf-8",
    )
    done = run_in(project, str(BIN / "floe"), "run")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "unit_test customers_add_up_their_orders (of customers):" in done.stdout, output
    statuses = {result["unique_id"]: result["status"] for result in _run_results(project)}
    assert statuses["unit_test.made.customers.customers_add_up_their_orders"] == "fail"
    assert statuses["model.made.customers"] == "skipped", statuses


def test_lineage_names_the_relations_that_exist_and_the_chain_joins(tmp_path: Path) -> None:
    """Every dataset floe's lineage names is a table or view the warehouse has (asked of DuckDB
    itself), so nothing an ingestion tool or a consumer emits for those tables can fail to join:
    a source read by its ``identifier`` (``payments_feed`` reads ``RAW_PAYMENTS``, which the seed
    ``raw_payments`` writes) is named as that seed's output, a source over ``customers`` as the
    model's output, and the ephemeral ``int_order_payments`` (never built) is looked through."""
    project = _made_sources_project(tmp_path)
    done = run_in(project, str(BIN / "floe"), "run")
    assert done.returncode == 0, done.stdout + done.stderr
    log = project / ".floe" / "lineage" / "events.jsonl"
    events = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    with _warehouse(project) as db:
        tables = {
            f"{catalog}.{schema}.{name}".lower()
            for catalog, schema, name in db.execute(
                "select table_catalog, table_schema, table_name from information_schema.tables"
            ).fetchall()
        }
    named = {item["name"] for event in events for item in [*event["inputs"], *event["outputs"]]}
    assert named, "the run's lineage names datasets"
    assert {name for name in named if name.lower() not in tables} == set()
    done_by_job = {
        event["job"]["name"].split(".")[-3]: event
        for event in events
        if event["eventType"] == "COMPLETE" and event["job"]["name"].endswith((".run", ".seed"))
    }

    def inputs(job: str) -> set[str]:
        return {item["name"] for item in done_by_job[job]["inputs"]}

    def output(job: str) -> str:
        return str(done_by_job[job]["outputs"][0]["name"])

    assert inputs("stg_payments") == {output("raw_payments")}, "the chain seed -> source joins"
    assert inputs("vip_customers") == {output("customers")}
    assert output("stg_payments") in inputs("orders"), "the ephemeral model looked through"
