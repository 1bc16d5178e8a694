"""Which sources read a relation the project makes (components/_relations.py).

Relation names as each adapter renders them, compared as its warehouse compares identifiers:
examples, properties over generated names (hypothesis), and manifests of a real ``dbt parse``
on three adapters (aliases, a source's ``identifier``, custom schemas, each adapter's quoting).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from floe_scaffold._relations import produced_sources, relation_key, split_relation
from tests.project.conftest import BIN, quiet_env

_INSENSITIVE = ("duckdb", "spark", "databricks", "redshift")
_LOWER = ("postgres", "bigquery")
_UPPER = ("snowflake",)
ADAPTERS = (*_INSENSITIVE, *_LOWER, *_UPPER)


def _key(rendered: str, adapter: str) -> tuple[str, ...] | None:
    return relation_key({"relation_name": rendered}, adapter)


def _quoted(text: str, quote: str = '"') -> str:
    close = {'"': '"', "`": "`", "[": "]"}[quote]
    return quote + text.replace(close, close * 2) + close


# -- examples --------------------------------------------------------------------------------


def test_split_relation_reads_each_quoting() -> None:
    assert split_relation('"db"."My Schema".orders') == (
        ("db", True),
        ("My Schema", True),
        ("orders", False),
    )
    assert split_relation("`proj`.`data set`.`t`") == (
        ("proj", True),
        ("data set", True),
        ("t", True),
    )
    assert split_relation("[db].[dbo].[Order Lines]") == (
        ("db", True),
        ("dbo", True),
        ("Order Lines", True),
    )
    assert split_relation('"a.b"."say ""hi"""') == (("a.b", True), ('say "hi"', True))
    assert split_relation(" analytics . orders ") == (("analytics", False), ("orders", False))


def test_each_adapter_folds_as_its_warehouse() -> None:
    # PostgreSQL: unquoted folds to lower case, quoted is exact
    assert _key("analytics.public.Orders", "postgres") == _key(
        '"analytics"."public"."orders"', "postgres"
    )
    assert _key('"analytics"."public"."Orders"', "postgres") != _key(
        '"analytics"."public"."orders"', "postgres"
    )
    # Snowflake: unquoted folds to upper case
    assert _key("ANALYTICS.PUBLIC.orders", "snowflake") == _key(
        '"ANALYTICS"."PUBLIC"."ORDERS"', "snowflake"
    )
    assert _key('"ANALYTICS"."PUBLIC"."orders"', "snowflake") != _key(
        "ANALYTICS.PUBLIC.orders", "snowflake"
    )
    # DuckDB, Databricks: case never matters, quoted or not
    assert _key('"w"."main"."RAW_PAYMENTS"', "duckdb") == _key(
        '"w"."main"."raw_payments"', "duckdb"
    )
    assert _key("`main`.`Sales`.`t`", "databricks") == _key("`main`.`sales`.`T`", "databricks")
    # the adapter's name is read in any case
    assert _key("a.B", "DuckDB") == _key("A.b", "duckdb")


def test_a_manifest_without_relation_names_uses_identifier_alias_and_schema() -> None:
    manifest: dict[str, Any] = {
        "metadata": {"adapter_type": "postgres"},
        "nodes": {
            "seed.p.raw_payments": {
                "resource_type": "seed",
                "name": "raw_payments",
                "database": "db",
                "schema": "raw",
                "config": {"materialized": "seed"},
            },
            "model.p.customers": {
                "resource_type": "model",
                "name": "customers",
                "alias": "Customer_List",
                "database": "db",
                "schema": "marts",
                "config": {"materialized": "table"},
            },
            "model.p.helper": {
                "resource_type": "model",
                "name": "helper",
                "database": "db",
                "schema": "marts",
                "config": {"materialized": "ephemeral"},
            },
            "test.p.some_test": {
                "resource_type": "test",
                "name": "some_test",
                "database": "db",
                "schema": "marts",
                "config": {},
            },
        },
        "sources": {
            "source.p.landing.payments": {
                "name": "payments",
                "identifier": "RAW_PAYMENTS",
                "database": "db",
                "schema": "raw",
            },
            "source.p.out.customer_list": {
                "name": "customer_list",
                "database": "db",
                "schema": "marts",
            },
            "source.p.other.raw_payments": {
                "name": "raw_payments",
                "database": "db",
                "schema": "elsewhere",
            },
            "source.p.out.helper": {"name": "helper", "database": "db", "schema": "marts"},
            "source.p.out.some_test": {"name": "some_test", "database": "db", "schema": "marts"},
        },
    }
    assert produced_sources(manifest) == {
        "source.p.landing.payments": ("seed.p.raw_payments",),
        "source.p.out.customer_list": ("model.p.customers",),
    }


# -- properties ------------------------------------------------------------------------------

#: Unquoted identifiers as SQL writes them (ASCII: what an unquoted identifier may hold).
_WORDS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_$]{0,20}", fullmatch=True)
#: Any text a quoted identifier may hold: dots, quotes, spaces, non-ASCII letters.
_QUOTED_TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20
).filter(lambda text: text.strip() == text)
_PARTS = st.lists(_WORDS, min_size=1, max_size=3)


def _recase(draw: st.DrawFn, word: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    return "".join(c.swapcase() if flip else c for c, flip in zip(word, flips, strict=True))


@st.composite
def _recased(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    words = draw(_PARTS)
    return words, [_recase(draw, word) for word in words]


@settings(max_examples=150, deadline=None)
@given(_recased(), st.sampled_from(ADAPTERS))
def test_unquoted_names_match_in_any_case(pair: tuple[list[str], list[str]], adapter: str) -> None:
    words, other = pair
    assert _key(".".join(words), adapter) == _key(".".join(other), adapter)


@settings(max_examples=150, deadline=None)
@given(_recased(), st.sampled_from(_INSENSITIVE), st.sampled_from(['"', "`"]))
def test_case_insensitive_adapters_ignore_case_even_quoted(
    pair: tuple[list[str], list[str]], adapter: str, quote: str
) -> None:
    words, other = pair
    quoted = ".".join(_quoted(word, quote) for word in other)
    assert _key(".".join(words), adapter) == _key(quoted, adapter)


@settings(max_examples=150, deadline=None)
@given(_PARTS)
def test_a_quoted_name_matches_the_unquoted_one_only_in_the_folded_case(words: list[str]) -> None:
    lower = ".".join(_quoted(word.lower()) for word in words)
    upper = ".".join(_quoted(word.upper()) for word in words)
    assert _key(".".join(words), "postgres") == _key(lower, "postgres")
    assert _key(".".join(words), "snowflake") == _key(upper, "snowflake")
    if any(word.lower() != word.upper() for word in words):  # a letter, not only _ and digits
        assert _key(".".join(words), "postgres") != _key(upper, "postgres")
        assert _key(".".join(words), "snowflake") != _key(lower, "snowflake")


@settings(max_examples=150, deadline=None)
@given(
    _PARTS,
    _WORDS,
    _WORDS,
    st.sampled_from(ADAPTERS),
    st.booleans(),
    st.booleans(),
)
def test_a_different_identifier_never_matches(
    schema: list[str], one: str, two: str, adapter: str, quote_one: bool, quote_two: bool
) -> None:
    if one.casefold() == two.casefold():
        two = two + "_x"
    first = ".".join([*schema, _quoted(one) if quote_one else one])
    second = ".".join([*schema, _quoted(two) if quote_two else two])
    assert _key(first, adapter) != _key(second, adapter)


@settings(max_examples=150, deadline=None)
@given(st.lists(_QUOTED_TEXT, min_size=1, max_size=3), st.sampled_from(['"', "`", "["]))
def test_quoted_parts_are_read_back_as_written(texts: list[str], quote: str) -> None:
    rendered = ".".join(_quoted(text, quote) for text in texts)
    assert split_relation(rendered) == tuple((text, True) for text in texts)
    assert _key(rendered, "postgres") == tuple(texts)


# -- real dbt parse --------------------------------------------------------------------------

_SOURCES = """
version: 2
sources:
  - name: landing
    schema: "{{ target.schema }}"
    tables:
      - name: payments_feed
        identifier: RAW_PAYMENTS
  - name: marts_out
    schema: "{{ target.schema }}_marts"
    tables:
      - name: customer_list
      - name: elsewhere
        identifier: raw_payments
      - name: helper
"""

_PROFILES = {
    "duckdb": {"type": "duckdb", "path": "w.duckdb", "schema": "main"},
    "postgres": {
        "type": "postgres",
        "host": "localhost",
        "port": 5432,
        "user": "u",
        "password": "p",
        "dbname": "analytics",
        "schema": "public",
    },
    "snowflake": {
        "type": "snowflake",
        "account": "xy12345",
        "user": "u",
        "password": "p",
        "database": "ANALYTICS",
        "warehouse": "W",
        "schema": "PUBLIC",
        "role": "R",
    },
}

#: source -> makers, per adapter. `RAW_PAYMENTS` is quoted by dbt-duckdb and dbt-postgres: the
#: same table on DuckDB (case-insensitive), another one on PostgreSQL; unquoted on Snowflake,
#: folded to upper case as `raw_payments` is.
_EXPECTED: dict[str, dict[str, tuple[str, ...]]] = {
    "duckdb": {
        "source.rel.landing.payments_feed": ("seed.rel.raw_payments",),
        "source.rel.marts_out.customer_list": ("model.rel.customers",),
    },
    "postgres": {"source.rel.marts_out.customer_list": ("model.rel.customers",)},
    "snowflake": {
        "source.rel.landing.payments_feed": ("seed.rel.raw_payments",),
        "source.rel.marts_out.customer_list": ("model.rel.customers",),
    },
}


@pytest.mark.slow
@pytest.mark.parametrize("adapter", sorted(_PROFILES))
def test_a_real_manifest_links_sources_to_their_makers(tmp_path: Path, adapter: str) -> None:
    project = tmp_path / "rel"
    (project / "models").mkdir(parents=True)
    (project / "seeds").mkdir()
    (project / "dbt_project.yml").write_text(
        yaml.safe_dump({"name": "rel", "version": "1.0.0", "profile": "rel"}), encoding="utf-8"
    )
    profiles = {"rel": {"target": "dev", "outputs": {"dev": _PROFILES[adapter]}}}
    (project / "profiles.yml").write_text(yaml.safe_dump(profiles), encoding="utf-8")
    (project / "seeds" / "raw_payments.csv").write_text("id,amount\n1,10\n", encoding="utf-8")
    # an alias and a custom schema: the table is <target schema>_marts.customer_list
    (project / "models" / "customers.sql").write_text(
        "{{ config(materialized='table', schema='marts', alias='customer_list') }}\n"
        "select 1 as id\n",
        encoding="utf-8",
    )
    (project / "models" / "helper.sql").write_text(
        "{{ config(materialized='ephemeral', schema='marts') }}\nselect 1 as id\n",
        encoding="utf-8",
    )
    (project / "models" / "reads.sql").write_text(
        "select * from {{ source('landing', 'payments_feed') }}\n"
        "union all select * from {{ source('marts_out', 'customer_list') }}\n"
        "union all select * from {{ source('marts_out', 'elsewhere') }}\n"
        "union all select * from {{ source('marts_out', 'helper') }}\n"
        "union all select * from {{ ref('helper') }}\n",
        encoding="utf-8",
    )
    (project / "models" / "_sources.yml").write_text(_SOURCES, encoding="utf-8")
    done = subprocess.run(
        [str(BIN / "dbt"), "parse", "--project-dir", str(project), "--profiles-dir", str(project)],
        cwd=project,
        env=quiet_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    manifest = json.loads((project / "target" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["metadata"]["adapter_type"] == adapter
    assert produced_sources(manifest) == _EXPECTED[adapter], {
        unique_id: source["relation_name"] for unique_id, source in manifest["sources"].items()
    }
