"""OpenLineage from real runs of a generated project, received by a real HTTP receiver."""

from __future__ import annotations

import json
import shutil
import statistics
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from floe_scaffold import __version__
from floe_scaffold.lineage._dispatch import FLUSH_SECONDS
from floe_scaffold.project import init_project
from tests.observability.lineage_receiver import LineageReceiver, OpenLineageValidator
from tests.observability.paired_runs import added_bound, copy_project, run_alongside
from tests.observability.test_lineage_config import SCHEDULING_SLACK
from tests.project.conftest import DEMO_ASSETS, floe_run

pytestmark = pytest.mark.slow

SEEDS = {"raw_customers", "raw_orders", "raw_payments"}
MODELS = DEMO_ASSETS - SEEDS


@pytest.fixture(scope="module")
def lineage_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo project, parsed once; each test runs a copy of it."""
    dest = tmp_path_factory.mktemp("lineage") / "shop"
    init_project(dest, git=False)
    done = floe_run(dest, {"OPENLINEAGE_DISABLED": "true"}, "--select", "raw_orders")
    assert done.returncode == 0, done.stdout + done.stderr
    return dest


@pytest.fixture
def project(lineage_project: Path, tmp_path: Path) -> Iterator[Path]:
    copy = tmp_path / "shop"
    shutil.copytree(lineage_project, copy, ignore=shutil.ignore_patterns("*.duckdb", "lineage"))
    yield copy


def _node(event: dict[str, Any]) -> str:
    return str(event["job"]["name"]).split(".")[-3]


def _by_job(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    jobs: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        jobs.setdefault(event["job"]["name"], []).append(event)
    return jobs


@pytest.mark.requirement("FR-011")
@pytest.mark.requirement("FR-012")
@pytest.mark.requirement("FR-014")
@pytest.mark.requirement("FR-024")
@pytest.mark.requirement("SC-004")
def test_every_model_gets_start_then_complete(
    project: Path, lineage_receiver: LineageReceiver
) -> None:
    done = floe_run(project, {"OPENLINEAGE_URL": lineage_receiver.url})
    assert done.returncode == 0, done.stdout + done.stderr
    events = lineage_receiver.events
    assert lineage_receiver.invalid == []
    jobs = _by_job(events)
    parent = jobs.pop("dbt-run-shop")
    assert [e["eventType"] for e in parent] == ["START", "COMPLETE"]
    parent_run = parent[0]["run"]["runId"]
    # The Dagster run every invocation names as its parent has its own events: the first and
    # the last of the run, with no parent of its own (the root).
    root = parent[0]["run"]["facets"]["parent"]
    assert (root["job"]["namespace"], root["job"]["name"]) == ("dagster", "__ASSET_JOB")
    dagster = jobs.pop("__ASSET_JOB")
    assert [e["eventType"] for e in dagster] == ["START", "COMPLETE"]
    assert events[0] is dagster[0] and events[-1] is dagster[1]
    for event in dagster:
        assert event["run"]["runId"] == root["run"]["runId"]
        assert event["job"]["namespace"] == "dagster" and "parent" not in event["run"]["facets"]
    nodes = {name: evs for name, evs in jobs.items() if name.endswith((".run", ".seed"))}
    assert {_node(evs[0]) for evs in nodes.values()} == MODELS | SEEDS
    namespace = "duckdb://warehouse.duckdb"  # the profile's path as written, as dbt-ol names it
    for name, evs in nodes.items():
        assert [e["eventType"] for e in evs] == ["START", "COMPLETE"], name
        assert evs[0]["run"]["runId"] == evs[1]["run"]["runId"]
        for event in evs:
            assert event["run"]["facets"]["parent"]["run"]["runId"] == parent_run
            assert event["job"]["namespace"] == "floe-demo"
            assert event["outputs"][0]["namespace"] == namespace
            assert event["job"]["facets"]["jobType"]["integration"] == "DBT"
    # outputStatistics: the rows the adapter reported written (DuckDB counts a seed's inserts,
    # not a model's `create table as`), as dbt-ol reads them from adapter_response.
    written = {
        _node(evs[1]): evs[1]["outputs"][0]["outputFacets"].get("outputStatistics")
        for evs in nodes.values()
    }
    for seed in SEEDS:
        csv = project / "dbt" / "seeds" / f"{seed}.csv"
        lines = len(csv.read_text(encoding="utf-8").splitlines()) - 1
        assert written[seed] is not None and written[seed]["rowCount"] == lines, seed
    assert all(written[model] is None for model in MODELS)
    orders = next(evs for evs in nodes.values() if _node(evs[0]) == "orders")
    complete = orders[1]
    assert {i["name"] for i in complete["inputs"]} == {
        "warehouse.main.stg_payments",
        "warehouse.main.stg_orders",
    }, "the ephemeral parent int_order_payments looked through to what it reads (no relation)"
    assert complete["outputs"][0]["name"] == "warehouse.main.orders"
    fields = {f["name"] for f in complete["outputs"][0]["facets"]["schema"]["fields"]}
    assert "order_id" in fields
    query = complete["job"]["facets"]["sql"]["query"]
    assert "stg_payments" in query, "compiled: the ephemeral model's CTE is injected"
    for event in events:
        assert (
            event["producer"]
            == f"https://github.com/floe-runtime/floe-scaffold/tree/v{__version__}"
        )
        sql = event["job"]["facets"].get("sql", {}).get("query", "")
        assert "{{" not in sql and "{%" not in sql, "compiled SQL or none, never raw Jinja"
    received = dict(zip(map(id, events), lineage_receiver.received_at, strict=True))
    latencies = [
        received[id(event)]
        - datetime.fromisoformat(event["eventTime"].replace("Z", "+00:00")).timestamp()
        for evs in nodes.values()
        for event in evs
    ]
    # SC-004 (within 1 s), measured from each event's own clock to its arrival: the typical
    # event meets it; on a loaded 2-core machine a single event may wait for a core, so the
    # worst one gets the suite's scheduling allowance on top (bench/ reports p50 and p99).
    assert statistics.median(latencies) < 1.0, latencies
    assert max(latencies) < 1.0 + SCHEDULING_SLACK, latencies
    # FR-024: sent by the dbt step itself, not by a sensor or any pass after it: every event
    # reached the receiver after the step started and before it ended, by the times the run
    # recorded for the step (the same machine's clock as the receiver's).
    started, ended = _dbt_step_window(project)
    arrived = [
        when
        for event, when in zip(events, lineage_receiver.received_at, strict=True)
        if event["job"]["namespace"] != "dagster"  # the Dagster run's own: around the step
    ]
    assert started < min(arrived) and max(arrived) < ended, (started, arrived, ended)


def _dbt_step_window(project: Path) -> tuple[float, float]:
    """When the last run's dbt step started and ended, as the project's instance recorded it."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(project / ".dagster_home")) as instance:
        (run,) = instance.get_runs(limit=1)
        times = {
            entry.dagster_event_type: entry.timestamp
            for entry in instance.all_logs(run.run_id)
            if entry.dagster_event is not None and entry.dagster_event.step_key == "dbt_build"
        }
    return times[dg.DagsterEventType.STEP_START], times[dg.DagsterEventType.STEP_SUCCESS]


@pytest.mark.requirement("FR-015")
def test_classified_columns_reach_the_dataset_facets(
    project: Path, lineage_receiver: LineageReceiver, lineage_validator: OpenLineageValidator
) -> None:
    done = floe_run(project, {"OPENLINEAGE_URL": lineage_receiver.url})
    assert done.returncode == 0, done.stderr
    customers = [
        e
        for e in lineage_receiver.events
        if e["job"]["name"].endswith("shop.customers.build.run") and e["eventType"] == "COMPLETE"
    ]
    facet = customers[0]["outputs"][0]["facets"]["columnClassification"]
    assert facet["columns"]["email"] == {
        "classification": "pii",
        "piiType": "email",
        "sensitivity": "high",
    }
    assert facet["_schemaURL"].startswith("https://floe.dev/schemas/openlineage/")
    assert lineage_validator.errors(customers[0]) == []


def test_data_tests_are_one_test_job_per_tested_model(
    project: Path, lineage_receiver: LineageReceiver
) -> None:
    done = floe_run(project, {"OPENLINEAGE_URL": lineage_receiver.url})
    assert done.returncode == 0, done.stderr
    jobs = _by_job(lineage_receiver.events)
    tests = {name: evs for name, evs in jobs.items() if name.endswith(".build.test")}
    assert {_node(evs[0]) for evs in tests.values()} == MODELS, "one job per tested model"
    for name, evs in tests.items():
        assert [e["eventType"] for e in evs] == ["START", "COMPLETE"], name
        assert "inputFacets" not in evs[0]["inputs"][0] or not evs[0]["inputs"][0]["inputFacets"]
    customers = jobs["warehouse.main.shop.customers.build.test"][1]
    tested = customers["inputs"][0]
    assert tested["name"] == "warehouse.main.customers"
    assertions = tested["inputFacets"]["dataQualityAssertions"]["assertions"]
    unique = next(a for a in assertions if a["name"] == "unique_customers_customer_id")
    assert unique == {
        "assertion": "unique",
        "name": "unique_customers_customer_id",
        "success": True,
        "column": "customer_id",
        "severity": "error",
        "actual": "0",
        "expected": "0",
        "params": {},
    }
    assert len(assertions) == 3, "every test of customers, in one facet"
    order = [e["job"]["name"] for e in lineage_receiver.events]
    invocation_end = order.index("dbt-run-shop", order.index("dbt-run-shop") + 1)
    assert order.index("warehouse.main.shop.customers.build.test") < invocation_end


@pytest.mark.requirement("FR-013")
def test_a_failing_model_gets_fail_with_dbts_message(
    project: Path, lineage_receiver: LineageReceiver
) -> None:
    (project / "dbt/models/marts/orders.sql").write_text(
        "select order_id, no_such_column from {{ ref('stg_orders') }}\n", encoding="utf-8"
    )
    done = floe_run(project, {"OPENLINEAGE_URL": lineage_receiver.url})
    assert done.returncode == 1
    assert lineage_receiver.invalid == []
    jobs = _by_job(lineage_receiver.events)
    orders = jobs["warehouse.main.shop.orders.build.run"]
    assert [e["eventType"] for e in orders] == ["START", "FAIL"]
    message = orders[1]["run"]["facets"]["errorMessage"]["message"]
    assert "no_such_column" in message
    assert orders[1]["outputs"] == [], "a failed model wrote nothing (as dbt-ol says)"
    invocation = jobs["dbt-run-shop"][1]["run"]["facets"]["errorMessage"]["message"]
    assert "no_such_column" in invocation or "orders" in invocation
    # json.dumps writes ESC as \u001b (ensure_ascii), so that is what is looked for.
    escaped = [e["job"]["name"] for e in lineage_receiver.events if "\\u001b" in json.dumps(e)]
    assert escaped == [], "no terminal escape sequence in any event"
    assert "warehouse.main.shop.customers.build.run" not in jobs, "skipped: never started"
    assert [e["eventType"] for e in jobs["dbt-run-shop"]] == ["START", "FAIL"]
    assert [e["eventType"] for e in jobs["__ASSET_JOB"]] == ["START", "FAIL"]
    run_failed = jobs["__ASSET_JOB"][1]["run"]["facets"]["errorMessage"]["message"]
    assert run_failed.startswith("step dbt_build failed"), run_failed
    assert [e["eventType"] for e in jobs["warehouse.main.shop.stg_orders.build.run"]] == [
        "START",
        "COMPLETE",
    ]


def test_without_an_endpoint_lineage_goes_to_a_local_file(project: Path) -> None:
    done = floe_run(project, {})
    assert done.returncode == 0, done.stderr
    lines = (project / ".floe/lineage/events.jsonl").read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines]
    assert {e["eventType"] for e in events} == {"START", "COMPLETE"}
    assert len(events) > 2 * len(MODELS | SEEDS)


@pytest.mark.requirement("FR-021")
def test_openlineage_disabled_sends_and_writes_nothing(
    project: Path, lineage_receiver: LineageReceiver
) -> None:
    done = floe_run(
        project, {"OPENLINEAGE_URL": lineage_receiver.url, "OPENLINEAGE_DISABLED": "true"}
    )
    assert done.returncode == 0, done.stderr
    assert lineage_receiver.hits == []
    assert not (project / ".floe/lineage").exists()


@pytest.mark.requirement("FR-021")
@pytest.mark.requirement("SC-006")
@pytest.mark.parametrize("endpoint", ["refused_url", "hanging_url", "unresolvable_url", "error500"])
def test_a_broken_endpoint_never_fails_or_holds_the_run(
    project: Path,
    endpoint: str,
    request: pytest.FixtureRequest,
    lineage_receiver: LineageReceiver,
) -> None:
    if endpoint == "error500":
        lineage_receiver.mode = "error500"
        url = lineage_receiver.url
    else:
        url = request.getfixturevalue(endpoint)
    # The baseline (lineage off) runs alongside, on a copy, so both share the machine's load.
    baseline_project = copy_project(project, project.parent / "baseline")
    paired = run_alongside(
        project, {"OPENLINEAGE_URL": url}, baseline_project, {"OPENLINEAGE_DISABLED": "true"}
    )
    done, baseline = paired.done, paired.baseline
    assert baseline.returncode == 0
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("success") == baseline.stdout.count("success")
    warnings = [line for line in done.stderr.splitlines() if "OpenLineage endpoint" in line]
    assert len(warnings) == 1, done.stderr
    assert url.split("//")[1] in warnings[0]
    # One bounded flush at most (bench/ reports it precisely); the receiver saw one request at
    # most for error500 (the breaker opened), none can be counted for the others.
    bound = added_bound(FLUSH_SECONDS, paired.baseline_seconds)
    assert paired.added < bound, f"lineage added {paired.added:.1f} s (allowed {bound:.1f} s)"
    if endpoint == "error500":
        assert len(lineage_receiver.hits) == 1, "one request, then the breaker is open"
