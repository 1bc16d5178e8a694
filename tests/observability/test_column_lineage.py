"""Column lineage read from compiled SQL (floe_scaffold/_column_lineage.py).

Examples of the SQL dbt users write (CTEs over ``select *``, renames, joins, aggregates,
ephemeral models inlined as CTEs, snapshots), what must stay unknown rather than be guessed, each
adapter's quoting and case, and a property over random chains of models checked against an
oracle that tracks every column by hand. The real projects' coverage is measured where they run
(tests/project/test_real_corpus*.py, tests/observability/test_dbt_ol_parity.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from floe_scaffold._column_lineage import (
    AGGREGATION,
    IDENTITY,
    TRANSFORMATION,
    ColumnLineage,
    ColumnTracker,
    compiled_sql,
)

pytestmark = pytest.mark.requirement("FR-014")

_QUOTE = {"duckdb": '"', "postgres": '"', "snowflake": '"', "bigquery": "`", "spark": "`"}


def _relation(adapter: str, *parts: str) -> str:
    quote = _QUOTE.get(adapter, '"')
    return ".".join(f"{quote}{part}{quote}" for part in parts)


def _node(
    unique_id: str,
    *,
    adapter: str = "duckdb",
    relation: tuple[str, ...] | None = None,
    columns: tuple[str, ...] = (),
    **extra: Any,
) -> dict[str, Any]:
    kind, package, name = unique_id.split(".")[0], unique_id.split(".")[1], unique_id.split(".")[-1]
    database, schema, table = relation or ("w", "main", name)
    node: dict[str, Any] = {
        "unique_id": unique_id,
        "resource_type": kind,
        "package_name": package,
        "name": name,
        "database": database,
        "schema": schema,
        "alias": table,
        "identifier": table,
        "relation_name": _relation(adapter, database, schema, table),
        "columns": {column: {"name": column} for column in columns},
        "config": {"materialized": "seed" if kind == "seed" else "view"},
        "original_file_path": f"{'seeds' if kind == 'seed' else 'models'}/{name}.csv",
        "depends_on": {"macros": [], "nodes": []},
    }
    if kind == "source":
        node["source_name"] = unique_id.split(".")[2]
    node.update(extra)
    return node


def _manifest(*nodes: dict[str, Any], adapter: str = "duckdb") -> dict[str, Any]:
    return {
        "metadata": {"adapter_type": adapter, "project_name": "shop"},
        "nodes": {n["unique_id"]: n for n in nodes if n["resource_type"] != "source"},
        "sources": {n["unique_id"]: n for n in nodes if n["resource_type"] == "source"},
    }


def _seed_file(root: Path, name: str, header: str) -> None:
    (root / "seeds").mkdir(parents=True, exist_ok=True)
    (root / "seeds" / f"{name}.csv").write_text(f"{header}\n1,2,3,4\n", encoding="utf-8")


def _shown(found: ColumnLineage | None) -> dict[str, list[tuple[str, str, str]]] | None:
    """``column -> sorted [(node or relation, input column, kind)]``, for equality in tests."""
    if found is None:
        return None
    return {
        column: sorted(
            (one.node or ".".join(one.relation), one.column, one.kind)
            for one in found.inputs[column]
        )
        for column in found.columns
        if column in found.inputs
    }


@pytest.fixture
def shop(tmp_path: Path) -> ColumnTracker:
    """A seed, a documented source, an undocumented source and five models."""
    _seed_file(tmp_path, "raw_orders", "id,user_id,order_date,status")
    nodes = [
        _node("seed.shop.raw_orders"),
        _node(
            "source.shop.app.payments",
            relation=("w", "app", "payments_v2"),
            columns=("id", "order_id", "amount", "method"),
        ),
        _node("source.shop.app.events", relation=("w", "app", "events")),
        *(_node(f"model.shop.{name}") for name in ("stg_orders", "stg_payments", "orders", "m")),
    ]
    return ColumnTracker(_manifest(*nodes), tmp_path)


# -- the SQL dbt users write ------------------------------------------------------------------


def test_a_staging_model_over_a_seed_is_traced_through_the_seeds_header(
    shop: ColumnTracker,
) -> None:
    sql = """
    with source as (select * from "w"."main"."raw_orders"),
    renamed as (
        select id as order_id, user_id as customer_id,
               cast(order_date as date) as order_date, status
        from source
    )
    select * from renamed
    """
    assert _shown(shop.record("model.shop.stg_orders", sql)) == {
        "order_id": [("seed.shop.raw_orders", "id", IDENTITY)],
        "customer_id": [("seed.shop.raw_orders", "user_id", IDENTITY)],
        "order_date": [("seed.shop.raw_orders", "order_date", TRANSFORMATION)],
        "status": [("seed.shop.raw_orders", "status", IDENTITY)],
    }


def test_a_mart_of_ctes_joins_and_aggregates_is_traced_to_each_parent(
    shop: ColumnTracker,
) -> None:
    shop.record(
        "model.shop.stg_orders",
        'select id as order_id, user_id as customer_id from "w"."main"."raw_orders"',
    )
    shop.record(
        "model.shop.stg_payments",
        'select order_id, amount / 100 as amount, method from "w"."app"."payments_v2"',
    )
    sql = """
    with orders as (select * from "w"."main"."stg_orders"),
    payments as (select * from "w"."main"."stg_payments"),
    totals as (
        select order_id,
               sum(case when method = 'card' then amount else 0 end) as card_amount,
               count(*) as payments
        from payments group by order_id
    ),
    final as (
        select orders.order_id, orders.customer_id, totals.card_amount, totals.payments,
               'v1' as version
        from orders left join totals on orders.order_id = totals.order_id
    )
    select * from final
    """
    found = shop.record("model.shop.orders", sql)
    assert _shown(found) == {
        "order_id": [("model.shop.stg_orders", "order_id", IDENTITY)],
        "customer_id": [("model.shop.stg_orders", "customer_id", IDENTITY)],
        "card_amount": [
            ("model.shop.stg_payments", "amount", AGGREGATION),
            ("model.shop.stg_payments", "method", AGGREGATION),
        ],
        "payments": [],  # count(*) reads no column
        "version": [],  # a literal
    }
    assert found is not None and found.known == len(found.columns) == 5


def test_a_source_is_read_with_the_columns_its_yaml_documents_and_named_by_its_node(
    shop: ColumnTracker,
) -> None:
    found = shop.record("model.shop.stg_payments", 'select * from "w"."app"."payments_v2"')
    assert found is not None and found.columns == ("id", "order_id", "amount", "method")
    assert _shown(found)["amount"] == [("source.shop.app.payments", "amount", IDENTITY)]  # type: ignore[index]


def test_a_star_over_an_undocumented_source_passes_the_columns_asked_for(
    shop: ColumnTracker,
) -> None:
    sql = """
    with source as (select * from "w"."app"."events"),
    renamed as (select id as event_id, kind, upper(kind) as loud from source)
    select * from renamed
    """
    assert _shown(shop.record("model.shop.m", sql)) == {
        "event_id": [("source.shop.app.events", "id", IDENTITY)],
        "kind": [("source.shop.app.events", "kind", IDENTITY)],
        "loud": [("source.shop.app.events", "kind", TRANSFORMATION)],
    }


def test_what_cannot_be_known_is_left_out_never_guessed(shop: ColumnTracker) -> None:
    # A `*` that reaches the output over a relation whose columns nobody knows: no lineage.
    assert shop.record("model.shop.m", 'select * from "w"."app"."events"') is None
    # An unqualified column of a join with such a relation: that column is unknown, the rest
    # known (the documented source's column, a literal).
    sql = (
        'select user_id, p.amount, 1 as one from "w"."app"."events" e '
        'join "w"."app"."payments_v2" p on e.id = p.id'
    )
    found = shop.record("model.shop.m", sql)
    assert found is not None and found.columns == ("user_id", "amount", "one")
    assert _shown(found) == {
        "amount": [("source.shop.app.payments", "amount", IDENTITY)],
        "one": [],
    }
    assert found.known == 2


def test_a_relation_the_project_does_not_declare_is_named_as_the_sql_names_it(
    shop: ColumnTracker,
) -> None:
    found = shop.record("model.shop.m", 'select x, y + 1 as z from "w"."legacy"."Stuff"')
    # (DuckDB compares names without regard to case: sqlglot folds them, quoted or not.)
    assert _shown(found) == {
        "x": [("w.legacy.stuff", "x", IDENTITY)],
        "z": [("w.legacy.stuff", "y", TRANSFORMATION)],
    }


def test_an_ephemeral_model_inlined_as_a_cte_is_looked_through(tmp_path: Path) -> None:
    _seed_file(tmp_path, "raw", "a,b,c,d")
    ephemeral = _node("model.shop.eph", config={"materialized": "ephemeral"})
    tracker = ColumnTracker(
        _manifest(_node("seed.shop.raw"), ephemeral, _node("model.shop.m")), tmp_path
    )
    sql = """
    with __dbt__cte__eph as (select a, b * 2 as b2 from "w"."main"."raw")
    select a as key, b2 from __dbt__cte__eph
    """
    assert _shown(tracker.record("model.shop.m", sql)) == {
        "key": [("seed.shop.raw", "a", IDENTITY)],
        "b2": [("seed.shop.raw", "b", TRANSFORMATION)],
    }


def test_a_cte_named_like_a_model_is_the_cte(shop: ColumnTracker) -> None:
    shop.record("model.shop.stg_orders", 'select id as order_id from "w"."main"."raw_orders"')
    sql = 'with orders as (select status from "w"."main"."raw_orders") select * from orders'
    assert _shown(shop.record("model.shop.m", sql)) == {
        "status": [("seed.shop.raw_orders", "status", IDENTITY)]
    }


def test_lineage_propagates_down_the_dag_as_dbt_builds_it(shop: ColumnTracker) -> None:
    shop.record("model.shop.stg_orders", 'select *, 1 as n from "w"."main"."raw_orders"')
    found = shop.record("model.shop.orders", 'select * from "w"."main"."stg_orders"')
    assert found is not None
    assert found.columns == ("id", "user_id", "order_date", "status", "n")
    assert shop.lineage_of("model.shop.orders") is found
    assert shop.lineage_of("model.shop.m") is None


def test_a_later_run_of_only_a_child_reads_the_columns_an_earlier_run_remembered(
    tmp_path: Path,
) -> None:
    _seed_file(tmp_path, "raw", "a,b,c,d")
    manifest = _manifest(_node("seed.shop.raw"), _node("model.shop.stg"), _node("model.shop.m"))
    remembered = tmp_path / "target" / "floe_columns.json"
    remembered.parent.mkdir()
    first = ColumnTracker(manifest, tmp_path, remembered=remembered)
    first.record("model.shop.stg", 'select a as key, b from "w"."main"."raw"')
    first.save()
    # A new run that builds only the child: its parent's columns are the remembered ones.
    second = ColumnTracker(manifest, tmp_path, remembered=remembered)
    found = second.record(
        "model.shop.m", 'with s as (select * from "w"."main"."stg") select * from s'
    )
    assert found is not None and found.columns == ("key", "b")
    second.save()
    assert set(json.loads(remembered.read_text(encoding="utf-8"))["columns"]) == {
        "model.shop.stg",
        "model.shop.m",
    }, "merged with what the file held"
    # Another adapter's file, or a broken one, is not read.
    other = ColumnTracker(
        _manifest(_node("model.shop.m"), adapter="postgres"), tmp_path, remembered=remembered
    )
    assert other.record("model.shop.m", 'select * from "w"."main"."stg"') is None
    remembered.write_text("{not json", encoding="utf-8")
    broken = ColumnTracker(manifest, tmp_path, remembered=remembered)
    assert broken.record("model.shop.m", 'select * from "w"."main"."stg"') is None
    broken.save()  # nothing read: the file is left as it is
    assert remembered.read_text(encoding="utf-8") == "{not json"


# -- never a failed run -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "this is not sql at all (((",
        'insert into "w"."main"."m" values (1)',
        "",
        "select 1 as x\n" + "union all select 1 as x\n" * 30_000,  # beyond MAX_SQL_CHARS
    ],
)
def test_sql_it_cannot_read_gives_no_lineage_and_no_error(shop: ColumnTracker, sql: str) -> None:
    assert shop.record("model.shop.m", sql) is None


def test_nodes_without_sql_lineage_get_none(shop: ColumnTracker) -> None:
    assert shop.record("seed.shop.raw_orders", "select 1 as a") is None
    assert shop.record("model.shop.nowhere", "select 1 as a") is None
    assert shop.record("model.shop.m", None) is None


def test_an_adapter_without_a_dialect_reads_nothing(tmp_path: Path) -> None:
    tracker = ColumnTracker(_manifest(_node("model.shop.m"), adapter="oracle"), tmp_path)
    assert not tracker.enabled
    assert tracker.record("model.shop.m", "select 1 as a") is None


def test_compiled_sql_is_the_manifests_else_this_invocations_file(tmp_path: Path) -> None:
    node = _node("model.shop.m", original_file_path="models/m.sql")
    assert compiled_sql({**node, "compiled_code": "select 1"}, None, 0.0) == "select 1"
    assert compiled_sql(node, None, 0.0) is None
    path = tmp_path / "compiled" / "shop" / "models" / "m.sql"
    path.parent.mkdir(parents=True)
    path.write_text("select 2", encoding="utf-8")
    assert compiled_sql(node, tmp_path, path.stat().st_mtime) == "select 2"
    assert compiled_sql(node, tmp_path, path.stat().st_mtime + 60) is None, "an older run's"
    assert compiled_sql({**node, "original_file_path": "models/gone.sql"}, tmp_path, 0) is None


# -- adapters ---------------------------------------------------------------------------------


def test_snowflake_folds_unquoted_names_to_upper_case(tmp_path: Path) -> None:
    raw = _node(
        "source.shop.app.orders",
        adapter="snowflake",
        relation=("DB", "APP", "ORDERS"),
        columns=("ID", "STATUS"),
    )
    raw["relation_name"] = "DB.APP.ORDERS"  # dbt-snowflake quotes nothing by default
    tracker = ColumnTracker(
        _manifest(raw, _node("model.shop.m", adapter="snowflake"), adapter="snowflake"), tmp_path
    )
    found = tracker.record("model.shop.m", "select id as order_id, status from db.app.orders")
    assert _shown(found) == {
        "ORDER_ID": [("source.shop.app.orders", "ID", IDENTITY)],
        "STATUS": [("source.shop.app.orders", "STATUS", IDENTITY)],
    }


@pytest.mark.parametrize("adapter", ["bigquery", "spark", "postgres", "duckdb"])
def test_each_adapters_quoting_is_read(tmp_path: Path, adapter: str) -> None:
    parts = ("proj", "raw", "orders") if adapter != "spark" else ("", "raw", "orders")
    source = _node("source.shop.app.orders", adapter=adapter, columns=("id", "status"))
    source["relation_name"] = _relation(adapter, *[p for p in parts if p])
    tracker = ColumnTracker(
        _manifest(source, _node("model.shop.m", adapter=adapter), adapter=adapter), tmp_path
    )
    found = tracker.record("model.shop.m", f"select * from {source['relation_name']}")
    assert _shown(found) == {
        "id": [("source.shop.app.orders", "id", IDENTITY)],
        "status": [("source.shop.app.orders", "status", IDENTITY)],
    }


# -- snapshots and package seeds --------------------------------------------------------------


def _snapshot(**config: Any) -> dict[str, Any]:
    return _node(
        "snapshot.shop.orders_snapshot",
        raw_code="{{ config(unique_key='order_id', strategy='timestamp') }}\n"
        "select order_id, status, updated_at from {{ ref('orders') }}\n"
        "join {{ source('app', 'payments') }} using (order_id)",
        config={"unique_key": "order_id", **config},
        depends_on={"macros": [], "nodes": ["model.shop.orders", "source.shop.app.payments"]},
    )


def _snapshot_tracker(tmp_path: Path, snapshot: dict[str, Any]) -> ColumnTracker:
    orders = _node("model.shop.orders", columns=("order_id", "status", "updated_at"))
    payments = _node("source.shop.app.payments", columns=("order_id", "amount"))
    return ColumnTracker(_manifest(orders, payments, snapshot), tmp_path)


def test_a_snapshot_is_read_from_its_query_with_refs_put_in(tmp_path: Path) -> None:
    snapshot = _snapshot(strategy="timestamp", updated_at="updated_at")
    found = _snapshot_tracker(tmp_path, snapshot).record(snapshot["unique_id"], None)
    assert found is not None
    assert found.columns == (
        "order_id",
        "status",
        "updated_at",
        "dbt_scd_id",
        "dbt_updated_at",
        "dbt_valid_from",
        "dbt_valid_to",
    )
    shown = _shown(found)
    assert shown is not None
    assert shown["status"] == [("model.shop.orders", "status", IDENTITY)]
    assert ("model.shop.orders", "updated_at", IDENTITY) in shown["dbt_valid_from"]
    assert set(shown["dbt_scd_id"]) >= {
        ("model.shop.orders", "updated_at", TRANSFORMATION),
    }
    assert shown["dbt_valid_to"] == [("model.shop.orders", "updated_at", TRANSFORMATION)]


def test_a_check_snapshots_validity_columns_are_its_time(tmp_path: Path) -> None:
    snapshot = _snapshot(
        strategy="check",
        snapshot_meta_column_names={"dbt_valid_from": "valid_from"},
        hard_deletes="new_record",
    )
    found = _snapshot_tracker(tmp_path, snapshot).record(snapshot["unique_id"], None)
    shown = _shown(found)
    assert shown is not None
    assert shown["valid_from"] == [] and shown["dbt_valid_to"] == []
    assert shown["dbt_is_deleted"] == []
    assert "dbt_valid_from" not in shown


def test_a_snapshot_that_calls_a_macro_is_not_rendered(tmp_path: Path) -> None:
    snapshot = _snapshot(strategy="check")
    snapshot["depends_on"]["macros"] = ["macro.shop.cents"]
    assert _snapshot_tracker(tmp_path, snapshot).record(snapshot["unique_id"], None) is None
    other = _snapshot(strategy="check", raw_code="select {{ var('x') }} from {{ ref('orders') }}")
    other["raw_code"] = "select {{ var('x') }} as x from {{ ref('orders') }}"
    assert _snapshot_tracker(tmp_path, other).record(other["unique_id"], None) is None


def test_a_package_seed_is_read_from_the_installed_package(tmp_path: Path) -> None:
    packages = tmp_path / "vendor"
    _seed_file(packages / "zendesk", "brand_data", "id,name,url,active")
    seed = _node("seed.zendesk.brand_data")
    tracker = ColumnTracker(_manifest(seed, _node("model.shop.m")), tmp_path, packages)
    found = tracker.record("model.shop.m", 'select * from "w"."main"."brand_data"')
    assert found is not None and found.columns == ("id", "name", "url", "active")


# -- a property over random chains of models --------------------------------------------------

_COLUMNS = ("a", "b", "c", "d", "e")


@st.composite
def _chains(draw: st.DrawFn) -> list[tuple[str, Any]]:
    """Steps of a chain of models over one seed: each a kind and its argument."""
    steps = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["star", "rename", "compute", "cte", "aggregate"]))
        steps.append((kind, draw(st.integers(0, 10_000))))
    return steps


def _step(
    kind: str, seed: int, columns: dict[str, set[tuple[str, str]]], parent: str
) -> tuple[str, dict[str, set[tuple[str, str]]]]:
    """One model's SQL over ``parent`` and the oracle's lineage of its columns."""
    names = list(columns)
    first = names[seed % len(names)]

    def fresh(name: str) -> str:
        while name in names:
            name += "_"
        return name

    if kind == "star":
        return f"select * from {parent}", dict(columns)
    if kind == "rename":
        renamed = {f"{name}_{seed % 7}": columns[name] for name in names}
        select = ", ".join(f"{name} as {name}_{seed % 7}" for name in names)
        return f"select {select} from {parent}", renamed
    if kind == "compute":
        made = {name: {(c, TRANSFORMATION) for c, _ in columns[name]} for name in names}
        made_name = fresh(f"x{seed}")
        out = {**columns, made_name: made[first]}
        return f"select *, {first} * 2 as {made_name} from {parent}", out
    if kind == "cte":
        return f"with s as (select * from {parent}), t as (select * from s) select * from t", dict(
            columns
        )
    rest = [name for name in names if name != first]
    if not rest:
        counted = fresh("n")
        sql = f"select {first}, count(*) as {counted} from {parent} group by {first}"
        return sql, {first: columns[first], counted: set()}
    total = {(c, AGGREGATION) for c, _ in columns[rest[0]]}
    summed = fresh(f"t{seed}")
    sql = f"select {first}, sum({rest[0]}) as {summed} from {parent} group by {first}"
    return sql, {first: columns[first], summed: total}


@settings(max_examples=60, deadline=None)
@given(_chains())
def test_random_chains_of_models_trace_each_column_to_the_seed(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, Any]]
) -> None:
    root = tmp_path_factory.mktemp("chain")
    _seed_file(root, "raw", ",".join(_COLUMNS[:4]))
    models = [_node(f"model.shop.m{i}") for i in range(len(steps))]
    tracker = ColumnTracker(_manifest(_node("seed.shop.raw"), *models), root)
    # The oracle: each column's seed columns and the strongest kind on the way.
    expected: dict[str, set[tuple[str, str]]] = {c: {(c, IDENTITY)} for c in _COLUMNS[:4]}
    parent = '"w"."main"."raw"'
    for index, (kind, seed) in enumerate(steps):
        sql, expected = _step(kind, seed, expected, parent)
        found = tracker.record(f"model.shop.m{index}", sql)
        assert found is not None, sql
        assert list(found.columns) == list(expected), sql
        for column, origins in expected.items():
            got = {(one.column, one.kind) for one in found.inputs[column]}
            nodes = {one.node for one in found.inputs[column]}
            assert got == origins, (sql, column)
            assert nodes <= {"seed.shop.raw" if index == 0 else f"model.shop.m{index - 1}"}
        parent = f'"w"."main"."m{index}"'
        expected = {column: {(column, IDENTITY)} for column in expected}
