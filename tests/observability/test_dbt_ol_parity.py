"""floe's OpenLineage names are dbt-ol's: proven against openlineage-dbt itself, never a table.

* DuckDB: ``dbt-ol build`` (the real wrapper, default artifacts mode, file transport) and
  ``floe run`` run side by side on copies of the same project: the demo, the demo with more
  (a package macro, a snapshot, a singular test that fails with severity warn) and the real
  ``jaffle_shop_duckdb``. Every job, every event's inputs and outputs, every assertion and
  every compiled SQL must be equal; floe's only extra jobs are its seed jobs (and the test
  jobs of seeds), and no event holds raw Jinja or a terminal escape sequence.
* The other targets (no warehouse here): ``floe init`` generates the project and profile, the
  real adapter parses it (``dbt parse``), and openlineage-dbt's own processor reads that
  manifest and profile (a run result saying every node passed) while floe's recorder is fed the
  dbt events of the same run. Again every job, input and output must be equal.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from floe_scaffold.project import init_project
from tests.helpers import DBT_UTILS_DIR, JAFFLE_SHOP_DIR, TARGET_PROPERTIES, contract_for
from tests.observability.column_coverage import coverage, duckdb_columns
from tests.observability.dbt_ol_oracle import (
    NAMESPACE,
    assert_column_lineage_contains,
    assert_same_assertions,
    assert_same_lineage,
    dbt_ol_events,
    dbt_ol_profile,
    floe_events,
    quality_assertions,
    relations,
    run_results,
    terminal,
)
from tests.observability.lineage_receiver import LineageReceiver
from tests.project.conftest import BIN, floe_run, quiet_env

pytestmark = pytest.mark.slow


# -- running both ----------------------------------------------------------------------------


def _dbt(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real dbt (or dbt-ol) of this interpreter in ``project/dbt``, with floe's profile."""
    env = {k: v for k, v in quiet_env().items() if not k.startswith(("OTEL_", "OPENLINEAGE"))}
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]],
        cwd=project / "dbt",
        env={**env, "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}"},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def _dbt_ol_build(project: Path, events: Path, code: int = 0) -> list[dict[str, Any]]:
    """``dbt-ol build`` in ``project``; the events it wrote with the file transport."""
    env = {k: v for k, v in quiet_env().items() if not k.startswith(("OTEL_", "OPENLINEAGE"))}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        OPENLINEAGE_NAMESPACE=NAMESPACE,
        OPENLINEAGE__TRANSPORT__TYPE="file",
        OPENLINEAGE__TRANSPORT__LOG_FILE_PATH=str(events),
        OPENLINEAGE__TRANSPORT__APPEND="true",
    )
    done = subprocess.run(
        [str(BIN / "dbt-ol"), "build", "--profiles-dir", "../.floe/profiles", "--target", "dev"],
        cwd=project / "dbt",
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == code, done.stdout[-3000:] + done.stderr[-3000:]
    return [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines()]


def _side_by_side(
    project: Path, receiver: LineageReceiver, tmp_path: Path, code: int = 0
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """dbt-ol's and floe's events for two copies of ``project`` (dbt-ol's, floe's).

    ``code`` is the exit code both must end with (1: the dbt build fails).
    """
    twin = tmp_path / "dbt-ol" / project.name
    shutil.copytree(project, twin, symlinks=True)
    theirs = _dbt_ol_build(twin, tmp_path / "dbt-ol-events.jsonl", code)
    done = floe_run(project, {"OPENLINEAGE_URL": receiver.url, "OPENLINEAGE_NAMESPACE": NAMESPACE})
    assert done.returncode == code, done.stdout[-3000:] + done.stderr[-3000:]
    assert receiver.invalid == [], "every floe event is valid against the official schemas"
    # floe's only events beyond the dbt ones: the Dagster run's own (dbt-ol runs no Dagster).
    dagster = [e for e in receiver.events if e["job"]["namespace"] == "dagster"]
    assert [e["eventType"] for e in dagster] == ["START", "COMPLETE" if code == 0 else "FAIL"]
    return theirs, [e for e in receiver.events if e["job"]["namespace"] != "dagster"]


def _relations_of(project: Path) -> frozenset[str]:
    """The relations floe's build made, as dbt renders them (its manifest's relation names)."""
    manifest = json.loads((project / "dbt/target/manifest.json").read_text(encoding="utf-8"))
    return relations(manifest)


# -- comparing ------------------------------------------------------------------------------


def assert_same_compiled_sql(theirs: list[dict[str, Any]], ours: list[dict[str, Any]]) -> None:
    """Model jobs end with dbt-ol's compiled SQL; no event of floe's holds raw Jinja.

    A snapshot's COMPLETE has no SQL: dbt writes no compiled file for snapshots while it runs.
    """
    mine = terminal(ours)
    for name, event in terminal(theirs).items():
        sql = event["job"]["facets"].get("sql")
        if sql is not None and event["job"]["facets"]["jobType"]["jobType"] == "MODEL":
            assert mine[name]["job"]["facets"]["sql"]["query"] == sql["query"], name
    for event in ours:
        query = event["job"]["facets"].get("sql", {}).get("query", "")
        assert "{{" not in query and "{%" not in query, event["job"]["name"]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def assert_no_escape_sequences(events: list[dict[str, Any]]) -> None:
    """No string anywhere in any event holds a terminal escape byte."""
    for event in events:
        dirty = [text for text in _strings(event) if "\x1b" in text or "\x9b" in text]
        assert dirty == [], event["job"]["name"]


# -- the projects ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo project as ``floe init`` generates it (each test copies it)."""
    dest = tmp_path_factory.mktemp("parity") / "shop"
    init_project(dest, git=False)
    return dest


def _copy(project: Path, tmp_path: Path) -> Path:
    copy = tmp_path / project.name
    shutil.copytree(project, copy)
    return copy


def _with_dbt_utils(project: Path) -> None:
    """``dbt_utils`` as a ``local:`` package (from a copy in the project), installed with deps."""
    shutil.copytree(DBT_UTILS_DIR, project / "packages_src" / "dbt_utils")
    (project / "dbt" / "packages.yml").write_text(
        f"packages:\n  - local: {project / 'packages_src' / 'dbt_utils'}\n", encoding="utf-8"
    )
    done = _dbt(project, "dbt", "deps", "--profiles-dir", "../.floe/profiles")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.requirement("FR-014")
def test_the_demo_names_every_job_and_dataset_as_dbt_ol_does(
    demo_template: Path, lineage_receiver: LineageReceiver, tmp_path: Path
) -> None:
    project = _copy(demo_template, tmp_path)
    theirs, ours = _side_by_side(project, lineage_receiver, tmp_path)
    assert_same_lineage(theirs, ours, existing=_relations_of(project))
    assert assert_same_assertions(theirs, ours) == 6, "one test job per tested model"
    assert_same_compiled_sql(theirs, ours)
    # dbt-ol traces the columns of the demo's models; floe's inputs contain each of them.
    assert assert_column_lineage_contains(theirs, ours, _relations_of(project)) >= 20
    assert_no_escape_sequences(ours)
    namespaces = {item["namespace"] for e in theirs for item in e["outputs"]}
    assert namespaces == {"duckdb://warehouse.duckdb"}, "the profile's path as written"


@pytest.mark.requirement("FR-014")
def test_package_macros_snapshots_and_singular_tests_match_dbt_ol(
    demo_template: Path, lineage_receiver: LineageReceiver, tmp_path: Path
) -> None:
    project = _copy(demo_template, tmp_path)
    _with_dbt_utils(project)
    dbt = project / "dbt"
    (dbt / "models" / "marts" / "order_keys.sql").write_text(
        "select {{ dbt_utils.generate_surrogate_key(['order_id', 'status']) }} as order_key,\n"
        "       order_id\nfrom {{ ref('stg_orders') }}\n",
        encoding="utf-8",
    )
    (dbt / "snapshots").mkdir(exist_ok=True)
    (dbt / "snapshots" / "orders_snapshot.sql").write_text(
        "{% snapshot orders_snapshot %}\n"
        "{{ config(target_schema='snapshots', unique_key='order_id', strategy='check',"
        " check_cols='all') }}\n"
        "select * from {{ ref('stg_orders') }}\n{% endsnapshot %}\n",
        encoding="utf-8",
    )
    (dbt / "tests" / "assert_no_order_is_large.sql").write_text(
        "{{ config(severity='warn') }}\n"
        "select order_id from {{ ref('orders') }} where amount > 10\n",
        encoding="utf-8",
    )
    theirs, ours = _side_by_side(project, lineage_receiver, tmp_path)
    assert_same_lineage(theirs, ours, existing=_relations_of(project))
    assert assert_same_assertions(theirs, ours) == 6
    assert_same_compiled_sql(theirs, ours)
    assert assert_column_lineage_contains(theirs, ours, _relations_of(project)) >= 20
    assert_no_escape_sequences(ours)
    jobs = {e["job"]["name"] for e in ours}
    assert "warehouse.main.shop.order_keys.build.run" in jobs
    assert "warehouse.snapshots.shop.orders_snapshot.build.snapshot" in jobs
    singular = next(j for j in jobs if j.startswith("test.shop.assert_no_order_is_large"))
    assert [e["eventType"] for e in ours if e["job"]["name"] == singular] == ["START", "COMPLETE"]
    warned = next(
        a
        for a in quality_assertions(terminal(ours)["warehouse.main.shop.orders.build.test"])
        if a["name"] == "assert_no_order_is_large"
    )
    assert warned["success"] is False and warned["severity"] == "warn"
    assert int(warned["actual"]) > 0 and warned["expected"] == "0"
    keys = terminal(ours)["warehouse.main.shop.order_keys.build.run"]["job"]["facets"]["sql"]
    assert "md5" in keys["query"].lower(), "the package macro, compiled"


@pytest.mark.requirement("FR-013")
@pytest.mark.requirement("FR-014")
def test_a_failing_build_fails_the_jobs_dbt_ol_fails(
    demo_template: Path, lineage_receiver: LineageReceiver, tmp_path: Path
) -> None:
    project = _copy(demo_template, tmp_path)
    (project / "dbt" / "models" / "marts" / "orders.sql").write_text(
        "select order_id, no_such_column from {{ ref('stg_orders') }}\n", encoding="utf-8"
    )
    theirs, ours = _side_by_side(project, lineage_receiver, tmp_path, code=1)
    assert_same_lineage(theirs, ours, existing=_relations_of(project))
    assert assert_same_assertions(theirs, ours) == 6, "skipped tests count as failed (dbt-ol)"
    assert_no_escape_sequences(ours)
    ended = {name: e["eventType"] for name, e in terminal(ours).items()}
    assert ended["warehouse.main.shop.orders.build.run"] == "FAIL"
    assert ended["warehouse.main.shop.orders.build.test"] == "FAIL", "its tests were skipped"
    assert "warehouse.main.shop.customers.build.run" not in ended, "skipped: never started"
    failed = terminal(ours)["warehouse.main.shop.orders.build.run"]
    assert "no_such_column" in failed["run"]["facets"]["errorMessage"]["message"]


@pytest.mark.requirement("FR-014")
def test_jaffle_shop_duckdb_names_every_job_and_dataset_as_dbt_ol_does(
    lineage_receiver: LineageReceiver, tmp_path: Path
) -> None:
    project = tmp_path / "jaffle"
    shutil.copytree(JAFFLE_SHOP_DIR, project / "dbt")
    contract = contract_for("duckdb", properties={"path": "jaffle_shop.duckdb"})
    (tmp_path / "contract.json").write_text(json.dumps(contract), encoding="utf-8")
    init_project(project, artifacts=tmp_path / "contract.json", git=False)
    _with_dbt_utils(project)
    theirs, ours = _side_by_side(project, lineage_receiver, tmp_path)
    assert_same_lineage(theirs, ours, existing=_relations_of(project))
    assert assert_same_assertions(theirs, ours) == 5
    assert_same_compiled_sql(theirs, ours)
    # dbt-ol traces no column of jaffle_shop (CTEs, then `select * from final`); floe traces
    # every column of every model, each to the columns it reads.
    assert assert_column_lineage_contains(theirs, ours, _relations_of(project)) == 0
    found = coverage(ours, duckdb_columns(project / "dbt" / "jaffle_shop.duckdb"))
    assert found.models == found.models_traced == 5, str(found)
    assert found.columns == found.columns_traced == found.columns_with_inputs == 27, str(found)
    assert_no_escape_sequences(ours)
    assert len({e["job"]["name"] for e in ours if e["job"]["name"].endswith(".build.test")}) == 5


# -- the other targets: openlineage-dbt's own code on floe's generated profile ----------------

_SOURCES = """
sources:
  - name: shop
    tables:
      - name: events
        identifier: raw_events
        columns:
          - name: event_id
            data_tests: [not_null]
"""
#: Profiles beyond each target's defaults (tests/helpers.py): other spellings dbt-ol reads.
VARIANTS: dict[str, dict[str, Any]] = {
    "postgres": {},
    "snowflake": {},
    "snowflake-org-account": {"account": "myorg-myaccount"},
    "bigquery": {},
    "redshift": {},
    "databricks": {},
    "spark": {},
    "spark-http": {"method": "http", "cluster": "abc", "port": None},
}


def _contract(variant: str) -> dict[str, Any]:
    target = variant.split("-")[0]
    properties = dict(TARGET_PROPERTIES[target])
    for key, value in VARIANTS[variant].items():
        if value is None:
            properties.pop(key, None)
        else:
            properties[key] = value
    return contract_for(target, properties=properties)


def _parsed(project: Path) -> dict[str, Any]:
    """``dbt parse`` of the generated project with the real adapter (dummy credentials)."""
    dbt = project / "dbt"
    (dbt / "models" / "sources.yml").write_text(_SOURCES, encoding="utf-8")
    (dbt / "models" / "stg_events.sql").write_text(
        "select * from {{ source('shop', 'events') }}\n", encoding="utf-8"
    )
    (dbt / "snapshots").mkdir(exist_ok=True)
    (dbt / "snapshots" / "orders_snapshot.sql").write_text(
        "{% snapshot orders_snapshot %}\n{{ config(target_schema='snapshots', "
        "unique_key='order_id', strategy='check', check_cols='all') }}\n"
        "select * from {{ ref('stg_orders') }}\n{% endsnapshot %}\n",
        encoding="utf-8",
    )
    dummy = dict.fromkeys(_variables(project), "dummy")
    env = {k: v for k, v in quiet_env(**dummy).items() if not k.startswith("OPENLINEAGE")}
    done = subprocess.run(
        [str(BIN / "dbt"), "parse", "--profiles-dir", "../.floe/profiles", "--target", "dev"],
        cwd=dbt,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    return json.loads((dbt / "target" / "manifest.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _variables(project: Path) -> list[str]:
    text = (project / ".floe" / "profiles" / "profiles.yml").read_text(encoding="utf-8")
    return sorted(set(re.findall(r"env_var\('([^']+)'", text)))


@pytest.mark.requirement("FR-014")
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_other_targets_name_as_openlineage_dbt_does(
    variant: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith(("OPENLINEAGE", "FLOE_", "DBT_")):
            monkeypatch.delenv(name)
    contract = tmp_path / "contract.json"
    contract.write_text(json.dumps(_contract(variant)), encoding="utf-8")
    project = tmp_path / "project"
    init_project(project, artifacts=contract, git=False)
    manifest = _parsed(project)
    profiles = project / ".floe" / "profiles"
    theirs = dbt_ol_events(manifest, run_results(manifest), dbt_ol_profile(profiles, "floe"))
    document = yaml.safe_load((profiles / "profiles.yml").read_text(encoding="utf-8"))
    ours = floe_events(manifest, document["floe"]["outputs"]["dev"], tmp_path / "events.jsonl")
    assert_same_lineage(theirs, ours, existing=relations(manifest))
    assert assert_same_assertions(theirs, ours) == 7, "6 models and a source are tested"
    jobs = {e["job"]["name"] for e in theirs}
    assert any(".source.project.shop.events.build.test" in job for job in jobs)
    assert any(job.endswith(".orders_snapshot.build.snapshot") for job in jobs)
