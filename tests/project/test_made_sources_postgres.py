"""Sources over relations the project makes, run on a real PostgreSQL server from an empty schema.

On PostgreSQL a view is checked when it is created: a model reading a source over a seed's table
fails if dbt builds it before the seed. The demo, generated for the server, changed as real
projects are written: ``stg_orders`` reads its source without the ``-- depends_on`` comment that
ordered the seed first; ``stg_payments`` reads a source named unlike the seed's table
(``identifier: raw_payments``); ``vip_customers`` reads a source over the model ``customers``.
One ``floe run`` must build the seeds, then their readers, then what reads ``customers``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.postgres import PostgresInfo
from tests.profiles.conftest import postgres_server
from tests.project.conftest import BIN, postgres_demo, run_in

pytestmark = pytest.mark.slow
__all__ = ["postgres_server"]  # the session fixture, shared with tests/profiles

_SCHEMA = "made_sources"

_SOURCES = """
  - name: landing
    schema: "{{ target.schema }}"
    tables:
      - name: payments_feed
        identifier: raw_payments
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


def _schema_exists(server: PostgresInfo, schema: str) -> bool:
    connection = server.connect(admin=True)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "select 1 from information_schema.schemata where schema_name = %s", [schema]
            )
            return cursor.fetchone() is not None
    finally:
        connection.close()


def _count(server: PostgresInfo, relation: str) -> int:
    connection = server.connect(admin=True)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'select count(*) from "{_SCHEMA}"."{relation}"')  # noqa: S608
            row = cursor.fetchone()
    finally:
        connection.close()
    return int(row[0])


@pytest.mark.requirement("FR-007")
def test_one_floe_run_orders_producers_first_on_postgres(
    postgres_server: PostgresInfo, tmp_path: Path
) -> None:
    project, env = postgres_demo(postgres_server, tmp_path, _SCHEMA)
    models = project / "dbt" / "models"
    orders = models / "staging" / "stg_orders.sql"
    orders.write_text(
        "\n".join(line for line in orders.read_text().splitlines() if "depends_on" not in line),
        encoding="utf-8",
    )
    payments = models / "staging" / "stg_payments.sql"
    text = payments.read_text(encoding="utf-8")
    assert "{{ ref('raw_payments') }}" in text
    payments.write_text(
        text.replace("{{ ref('raw_payments') }}", "{{ source('landing', 'payments_feed') }}"),
        encoding="utf-8",
    )
    sources = models / "staging" / "_sources.yml"
    sources.write_text(sources.read_text(encoding="utf-8") + _SOURCES, encoding="utf-8")
    (models / "marts" / "vip_customers.sql").write_text(_VIP, encoding="utf-8")
    assert not _schema_exists(postgres_server, _SCHEMA), "an empty database"

    done = run_in(project, str(BIN / "floe"), "run", env=env)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-6000:]

    assert _count(postgres_server, "stg_payments") == _count(postgres_server, "raw_payments") > 0
    assert _count(postgres_server, "stg_orders") == _count(postgres_server, "raw_orders") > 0
    assert _count(postgres_server, "vip_customers") > 0
    # dbt ran in stages (one target folder each), and every node and test passed
    runs = sorted((project / "dbt" / "target").glob("*/run_results.json"))
    assert len(runs) >= 3, runs
    statuses: dict[str, str] = {}
    for path in runs:
        for result in json.loads(path.read_text(encoding="utf-8"))["results"]:
            statuses[result["unique_id"]] = result["status"]
    assert set(statuses.values()) <= {"success", "pass"}, statuses
    assert statuses["model.shop.vip_customers"] == "success"
    assert any(
        key.startswith("test.shop.source_not_null_landing_payments_feed_id") for key in statuses
    ), statuses
