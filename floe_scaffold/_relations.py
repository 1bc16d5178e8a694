"""Which dbt sources read a relation the project itself makes (a seed, model or snapshot).

dbt knows no link between a source and a seed or model that writes the same table: a source is
"loaded outside dbt". A project that loads its raw tables with seeds (or builds a table a source
then reads) has such links all the same, and floe draws them: in the asset graph the producer
sits upstream of the source (``components/_source_assets``), a run builds the producer first
(``components/_stages``), and lineage names the source's dataset as the producer's
(``lineage/_recorder``), so the chain joins.

Two relations are the same when each part (database, schema, identifier) names the same object,
compared as the warehouse compares identifiers: the parts are read from the ``relation_name``
dbt rendered (so a source's ``identifier`` or its ``name``, a node's ``alias``, custom schemas and
databases are already resolved, with the adapter's quoting); a quoted part is taken as written
and an unquoted one folded as the warehouse folds it (lower case on PostgreSQL and most, upper
case on Snowflake). DuckDB, Spark, Databricks and Redshift compare identifiers without regard to
case even when quoted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "PRODUCER_TYPES",
    "Part",
    "is_ephemeral",
    "normal_key",
    "produced_sources",
    "relation_key",
    "split_relation",
]

#: The nodes whose relations a run creates (ephemeral models excepted: they create none).
PRODUCER_TYPES = frozenset({"seed", "model", "snapshot"})
#: Adapters whose identifiers are case-insensitive, quoted or not.
_CASE_INSENSITIVE = frozenset({"duckdb", "spark", "databricks", "redshift"})
#: Adapters that fold an unquoted identifier to upper case (the SQL standard); others lower.
_FOLD_UPPER = frozenset({"snowflake", "oracle", "db2", "exasol"})
_QUOTES = {'"': '"', "`": "`", "[": "]"}

#: One part of a relation name: its text, and whether it was quoted.
Part = tuple[str, bool]


def split_relation(name: str) -> tuple[Part, ...]:
    """The dot-separated parts of a rendered relation name, each with whether it was quoted.

    ``"db"."My Schema".orders`` is ``(("db", True), ("My Schema", True), ("orders", False))``; a
    doubled closing quote inside a quoted part is one quote character.
    """
    parts: list[Part] = []
    index, size = 0, len(name)
    while index < size:
        while index < size and name[index].isspace():
            index += 1
        if index < size and name[index] in _QUOTES:
            close = _QUOTES[name[index]]
            index += 1
            text: list[str] = []
            while index < size:
                if name[index] == close:
                    if index + 1 < size and name[index + 1] == close:
                        text.append(close)
                        index += 2
                        continue
                    index += 1
                    break
                text.append(name[index])
                index += 1
            parts.append(("".join(text), True))
            while index < size and name[index] != ".":
                index += 1
        else:
            start = index
            while index < size and name[index] != ".":
                index += 1
            parts.append((name[start:index].strip(), False))
        index += 1  # the dot
    return tuple(parts)


def _normal(part: Part, adapter: str) -> str:
    text, quoted = part
    if adapter in _CASE_INSENSITIVE:
        return text.casefold()
    if quoted:
        return text
    return text.upper() if adapter in _FOLD_UPPER else text.lower()


def normal_key(parts: Sequence[Part], adapter: str) -> tuple[str, ...]:
    """The parts of a relation name as the warehouse compares them (see the module docstring)."""
    return tuple(_normal(part, adapter.lower()) for part in parts)


def relation_key(props: Mapping[str, Any], adapter: str) -> tuple[str, ...] | None:
    """The relation a source reads or a node makes, as the warehouse names it; None if none.

    From the rendered ``relation_name``; without one (an older or hand-made manifest), from
    ``database``, ``schema`` and the ``identifier`` (a source, defaulting to its ``name``) or
    ``alias`` (a node, defaulting to its ``name``), taken as unquoted.
    """
    rendered = props.get("relation_name")
    if isinstance(rendered, str) and rendered.strip():
        parts = split_relation(rendered)
    else:
        last = props.get("identifier") or props.get("alias") or props.get("name")
        if not last:
            return None
        parts = tuple(
            (str(value), False)
            for value in (props.get("database"), props.get("schema"), last)
            if value
        )
    return normal_key(parts, adapter)


def is_ephemeral(node: Mapping[str, Any]) -> bool:
    """Whether ``node`` is an ephemeral model: dbt inlines it, no relation is ever built."""
    config = node.get("config") or {}
    return node.get("resource_type") == "model" and config.get("materialized") == "ephemeral"


def _creates_relation(node: Mapping[str, Any]) -> bool:
    if node.get("resource_type") not in PRODUCER_TYPES:
        return False
    config = node.get("config") or {}
    return (config.get("materialized") if isinstance(config, Mapping) else None) != "ephemeral"


def produced_sources(manifest: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Each source whose relation a seed, model or snapshot of the project makes: its makers.

    Keys are source unique ids, values the unique ids of the nodes that write that relation
    (sorted; usually one).
    """
    adapter = str((manifest.get("metadata") or {}).get("adapter_type") or "")
    makers: dict[tuple[str, ...], list[str]] = {}
    for unique_id, node in (manifest.get("nodes") or {}).items():
        if _creates_relation(node):
            key = relation_key(node, adapter)
            if key is not None:
                makers.setdefault(key, []).append(str(unique_id))
    if not makers:
        return {}
    found: dict[str, tuple[str, ...]] = {}
    for unique_id, source in (manifest.get("sources") or {}).items():
        key = relation_key(source, adapter)
        if key is not None and key in makers:
            found[str(unique_id)] = tuple(sorted(makers[key]))
    return found
