"""Which input columns each output column of a model or snapshot is made from.

Read from the SQL dbt compiled, with sqlglot, the way the SQL dbt recommends is written: CTEs
that ``select *`` from a ref, renames, joins, and a closing ``select * from final``. A ``*`` or an
unqualified column is resolved through the columns each input relation is known to have, in this
order of trust:

1. the output columns this tracker read from the compiled SQL of a node built earlier in the same
   Dagster run (so lineage propagates down the DAG as dbt builds it);
2. a seed's columns: the header of its CSV file;
3. the output columns read for a model or snapshot in an earlier run (``remembered``: a JSON
   file beside the manifest, ``target/floe_columns.json``), the columns its relation got then;
4. the columns the manifest documents for a model, snapshot or source (its YAML).

A relation whose columns are not known leaves a ``*`` over it unresolved: the output columns it
would bring are then missing, never guessed. An ephemeral model is inlined by dbt as a CTE, so its
columns are traced through to the relations it reads.

Each input column is named by the node whose relation it is (a seed, model, snapshot or source;
a relation two nodes share, a source over a seed say, by the node that makes it), so lineage and
the asset graph name the same thing. The kind of each dependency follows OpenLineage's
``columnLineage`` facet: ``IDENTITY`` (copied, perhaps renamed), ``TRANSFORMATION`` (computed from
it) or ``AGGREGATION`` (an aggregate over it).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from floe_scaffold._relations import Part, is_ephemeral, normal_key, relation_key

__all__ = [
    "AGGREGATION",
    "IDENTITY",
    "TRANSFORMATION",
    "ColumnLineage",
    "ColumnTracker",
    "Origin",
    "compiled_sql",
]

_LOG = logging.getLogger(__name__)

IDENTITY = "IDENTITY"
TRANSFORMATION = "TRANSFORMATION"
AGGREGATION = "AGGREGATION"
_RANK = {IDENTITY: 0, TRANSFORMATION: 1, AGGREGATION: 2}

#: sqlglot's dialect for each dbt adapter type.
DIALECTS = {
    "duckdb": "duckdb",
    "postgres": "postgres",
    "redshift": "redshift",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
    "databricks": "databricks",
    "spark": "spark",
}
#: Compiled SQL longer than this is not parsed (its lineage is left out): parsing is linear, the
#: lineage walk is not, and one generated monster must not hold a run.
MAX_SQL_CHARS = 200_000
#: The columns dbt adds to a snapshot's table, by their keys in ``snapshot_meta_column_names``.
SNAPSHOT_COLUMNS = ("dbt_scd_id", "dbt_updated_at", "dbt_valid_from", "dbt_valid_to")
_MAKERS = ("seed", "model", "snapshot")


@dataclass(frozen=True)
class Origin:
    """One input column, and how the output column is made from it.

    ``node`` is the unique id of the seed, model, snapshot or source whose relation holds it;
    None for a relation the project neither makes nor declares, then named by ``relation``, its
    parts as the SQL writes them.
    """

    node: str | None
    column: str
    kind: str = IDENTITY
    relation: tuple[str, ...] = ()


@dataclass(frozen=True)
class ColumnLineage:
    """The output columns of one node, in order, and the input columns of each one known.

    A column in ``inputs`` with no origin is made from no column (a constant, ``count(*)``, a
    table function); a column missing from ``inputs`` reads something that could not be traced.
    """

    columns: tuple[str, ...]
    inputs: Mapping[str, tuple[Origin, ...]]

    @property
    def known(self) -> int:
        """How many output columns have their lineage known."""
        return sum(1 for column in self.columns if column in self.inputs)


def compiled_sql(node: Mapping[str, Any], target_path: Path | None, since: float) -> str | None:
    """The SQL dbt compiled for ``node``: the manifest's, else this invocation's compiled file.

    A file older than ``since`` (the invocation's start) is a previous run's and never taken.
    """
    compiled = node.get("compiled_code")
    if compiled:
        return str(compiled)
    if target_path is None:
        return None
    path = (
        target_path
        / "compiled"
        / str(node.get("package_name"))
        / str(node.get("original_file_path"))
    )
    try:
        if path.stat().st_mtime < since - 0.05:
            return None
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


class ColumnTracker:
    """Column lineage of the nodes of one Dagster run, as dbt builds them (one per run)."""

    def __init__(
        self,
        manifest: Mapping[str, Any],
        project_dir: Path,
        packages_dir: Path | None = None,
        remembered: Path | None = None,
    ) -> None:
        """Index the manifest's relations; read ``remembered`` (earlier runs' columns).

        ``packages_dir`` is where ``dbt deps`` installs packages (default ``dbt_packages``);
        ``remembered`` is written by :meth:`save`.
        """
        metadata = manifest.get("metadata") or {}
        self._adapter = str(metadata.get("adapter_type") or "").lower()
        self._dialect = DIALECTS.get(self._adapter)
        self._project = str(metadata.get("project_name") or "")
        self._project_dir = project_dir
        self._packages = packages_dir or project_dir / "dbt_packages"
        self._nodes: dict[str, Mapping[str, Any]] = {
            **(manifest.get("sources") or {}),
            **(manifest.get("nodes") or {}),
        }
        self._by_relation: dict[tuple[str, ...], str] = {}
        for unique_id, node in self._nodes.items():
            if node.get("resource_type") not in (*_MAKERS, "source") or is_ephemeral(node):
                continue
            key = relation_key(node, self._adapter)
            # Exact keys only: dbt renders every relation in full (a one-part name is a CTE's).
            if key is None:
                continue
            known = self._by_relation.get(key)
            # The node that makes a relation names it, before a source that reads it.
            if known is None or (node["resource_type"] != "source" and known.startswith("source.")):
                self._by_relation[key] = str(unique_id)
        self._built: dict[str, ColumnLineage] = {}
        self._known: dict[str, tuple[str, ...] | None] = {}
        self._remembered_file = remembered
        self._remembered = _read_remembered(remembered, self._adapter)

    @property
    def enabled(self) -> bool:
        """Whether this adapter's SQL can be read (sqlglot has its dialect)."""
        return self._dialect is not None

    def node(self, unique_id: str) -> Mapping[str, Any] | None:
        """The manifest's node or source ``unique_id``."""
        return self._nodes.get(unique_id)

    def lineage_of(self, unique_id: str) -> ColumnLineage | None:
        """The lineage read for ``unique_id`` in this run, if it was built and could be read."""
        return self._built.get(unique_id)

    def record(self, unique_id: str, sql: str | None) -> ColumnLineage | None:
        """Read the lineage of a model or snapshot dbt has just built from ``sql``.

        Never raises: SQL that sqlglot cannot read leaves that node without column lineage.
        """
        node = self._nodes.get(unique_id)
        if node is not None and not sql and node.get("resource_type") == "snapshot":
            sql = self._snapshot_sql(node)  # dbt writes no compiled file for a snapshot
        if (
            node is None
            or node.get("resource_type") not in {"model", "snapshot"}
            or not sql
            or self._dialect is None
            or len(sql) > MAX_SQL_CHARS
        ):
            return None
        try:
            found = self._read(node, sql)
        except Exception as error:  # noqa: BLE001 - lineage must never fail a run
            _LOG.debug("no column lineage for %s: %s", unique_id, error)
            return None
        if found is not None:
            self._built[unique_id] = found
        return found

    def save(self) -> None:
        """Add the output columns read in this run to the ``remembered`` file (never raises).

        Merged with what the file holds (another run's nodes are kept) and replaced whole, so a
        reader sees the old file or the new one.
        """
        if self._remembered_file is None or not self._built:
            return
        merged = {
            **_read_remembered(self._remembered_file, self._adapter),
            **{unique_id: found.columns for unique_id, found in self._built.items()},
        }
        document = {"adapter": self._adapter, "columns": {k: list(v) for k, v in merged.items()}}
        folder = self._remembered_file.parent
        try:
            handle, scratch = tempfile.mkstemp(prefix=".floe_columns.", dir=folder)
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(document, out, separators=(",", ":"))
            Path(scratch).replace(self._remembered_file)
        except OSError as error:
            _LOG.debug("floe: could not remember column lineage: %s", error)

    # -- reading SQL --------------------------------------------------------------------------

    def _read(self, node: Mapping[str, Any], sql: str) -> ColumnLineage | None:
        from sqlglot import exp, parse_one
        from sqlglot.lineage import lineage
        from sqlglot.optimizer.qualify import qualify
        from sqlglot.optimizer.scope import build_scope

        parsed = parse_one(sql, dialect=self._dialect)
        if not isinstance(parsed, exp.Query):
            return None
        schema, named = self._schema(parsed)
        qualified = qualify(
            parsed,
            schema=schema,
            dialect=self._dialect,
            validate_qualify_columns=False,
            identify=False,
        )
        scope = build_scope(qualified)
        if scope is None or not isinstance(scope.expression, exp.Selectable):
            return None
        outputs = [select.alias_or_name for select in scope.expression.selects]
        if not outputs or any(not name or name == "*" for name in outputs):
            return None  # a `*` left unresolved: the outputs are not known
        # Untrimmed: trimming copies each select per column, O(columns^2) (300 columns: 27 s)
        roots = lineage(
            None,
            qualified,
            schema=schema,
            dialect=self._dialect,
            scope=scope,
            copy=False,
            trim_selects=False,
        )
        inputs = {}
        for name in outputs:
            origins = self._origins(roots[name], named)
            if origins is not None:
                inputs[name] = origins
        if node.get("resource_type") == "snapshot":
            inputs.update(_snapshot_columns(node.get("config") or {}, inputs))
        columns = (*outputs, *(column for column in inputs if column not in outputs))
        return ColumnLineage(columns=tuple(columns), inputs=inputs)

    def _schema(self, parsed: Any) -> tuple[Any, dict[tuple[str, ...], str]]:
        """The columns of each relation ``parsed`` reads that are known, and its nodes."""
        from sqlglot import exp
        from sqlglot.schema import MappingSchema

        schema = MappingSchema(dialect=self._dialect)
        named: dict[tuple[str, ...], str] = {}
        for table in parsed.find_all(exp.Table):
            key = self._key(table)
            unique_id = self._by_relation.get(key) if key else None
            if key is None or unique_id is None:
                continue
            named[key] = unique_id
            columns = self._columns_of(unique_id)
            if columns:
                bare = exp.Table(**{k: table.args.get(k) for k in ("this", "db", "catalog")})
                schema.add_table(bare, dict.fromkeys(columns, "UNKNOWN"), dialect=self._dialect)
        return schema, named

    def _origins(
        self, root: Any, named: Mapping[tuple[str, ...], str]
    ) -> tuple[Origin, ...] | None:
        """The input columns one output column's lineage tree ends in, strongest kind kept.

        None when a branch ends in a column it could not trace to a relation.
        """
        found: dict[tuple[str | None, tuple[str, ...], str], str] = {}
        for leaf, column, kind in _paths(root):
            if leaf is None:
                return None
            key = self._key(leaf)
            unique_id = named.get(key) if key else None
            written = () if unique_id else tuple(str(part.name) for part in leaf.parts)
            place = (unique_id, written, column)
            if _RANK[kind] > _RANK[found.get(place, IDENTITY)] or place not in found:
                found[place] = kind
        return tuple(
            Origin(node=unique_id, column=column, kind=kind, relation=written)
            for (unique_id, written, column), kind in found.items()
        )

    def _snapshot_sql(self, snapshot: Mapping[str, Any]) -> str | None:
        """A snapshot's query with its ``ref()`` and ``source()`` put in, else None.

        Only a query whose Jinja is those two and ``config()`` is rendered (sandboxed, any other
        name is an error); one that calls a macro is left without column lineage.
        """
        from jinja2 import StrictUndefined, TemplateError
        from jinja2.sandbox import SandboxedEnvironment

        depends = snapshot.get("depends_on") or {}
        raw = snapshot.get("raw_code")
        if depends.get("macros") or not isinstance(raw, str):
            return None
        parents = [self._nodes[uid] for uid in depends.get("nodes") or () if uid in self._nodes]

        def relation(found: list[Mapping[str, Any]]) -> str:
            if len(found) != 1 or not found[0].get("relation_name"):
                raise LookupError("not one relation")
            return str(found[0]["relation_name"])

        def ref(*names: str, **versions: Any) -> str:
            version = versions.get("v", versions.get("version"))
            return relation(
                [
                    node
                    for node in parents
                    if node.get("resource_type") in _MAKERS
                    and node.get("name") == names[-1]
                    and (len(names) == 1 or node.get("package_name") == names[0])
                    and (version is None or str(node.get("version")) == str(version))
                ]
            )

        def source(source_name: str, table_name: str) -> str:
            return relation(
                [
                    node
                    for node in parents
                    if node.get("resource_type") == "source"
                    and node.get("source_name") == source_name
                    and node.get("name") == table_name
                ]
            )

        environment = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
        try:
            return environment.from_string(raw).render(
                ref=ref, source=source, config=lambda *_, **__: ""
            )
        except (TemplateError, LookupError, TypeError):
            return None

    def _key(self, table: Any) -> tuple[str, ...] | None:
        parts: list[Part] = []
        for part in table.parts:
            text = getattr(part, "this", None)
            if not isinstance(text, str) or not text:
                return None
            parts.append((text, bool(part.args.get("quoted"))))
        return normal_key(parts, self._adapter) if parts else None

    # -- what an input relation is known to hold ---------------------------------------------

    def _columns_of(self, unique_id: str) -> tuple[str, ...] | None:
        built = self._built.get(unique_id)
        if built is not None:
            return built.columns
        if unique_id not in self._known:
            self._known[unique_id] = self._declared(unique_id)
        return self._known[unique_id]

    def _declared(self, unique_id: str) -> tuple[str, ...] | None:
        node = self._nodes[unique_id]
        if node.get("resource_type") == "seed":
            header = self._seed_header(node)
            if header:
                return header
        if unique_id in self._remembered:
            return self._remembered[unique_id]
        documented = tuple(str(name) for name in (node.get("columns") or {}))
        return documented or None

    def _seed_header(self, seed: Mapping[str, Any]) -> tuple[str, ...] | None:
        relative = str(seed.get("original_file_path") or "")
        if not relative:
            return None
        package = str(seed.get("package_name") or "")
        root = self._project_dir
        if package and package != self._project:  # an installed package's seed
            root = self._packages / package
        try:
            with (root / relative).open(encoding="utf-8", newline="") as handle:
                header = next(csv.reader(handle), None)
        except (OSError, UnicodeDecodeError, csv.Error):
            return None
        return tuple(name.strip() for name in header) if header else None


def _read_remembered(path: Path | None, adapter: str) -> dict[str, tuple[str, ...]]:
    """The ``remembered`` file's columns (empty when missing, unreadable or another adapter's)."""
    if path is None:
        return {}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        columns = document["columns"] if document.get("adapter") == adapter else {}
        return {
            str(unique_id): tuple(str(name) for name in names)
            for unique_id, names in columns.items()
            if isinstance(names, list)
        }
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return {}


def _paths(root: Any) -> Iterator[tuple[Any | None, str, str]]:
    """Each input column ``root`` reads: ``(table expression, column, kind)``.

    A ``*`` over a relation whose columns are not known passes the column asked for through (a
    CTE ``select * from source`` then ``select id from that_cte`` reads ``source.id``). A branch
    that ends in an expression reading a column no relation was found for yields ``(None, "",
    kind)``; one that reads no column (a literal, ``count(*)``) yields nothing.
    """
    from sqlglot import exp

    stack: list[tuple[Any, str, str]] = [(root, IDENTITY, "")]
    seen: set[tuple[int, str, str]] = set()
    while stack:
        node, kind, asked = stack.pop()
        if (id(node), kind, asked) in seen:
            continue
        seen.add((id(node), kind, asked))
        expression = node.expression
        name = str(node.name).rsplit(".", 1)[-1]
        if isinstance(expression, exp.Table):
            column = asked if name == "*" else name
            yield (expression, column, kind) if column and column != "*" else (None, "", kind)
            continue
        if isinstance(expression, exp.Placeholder):  # sqlglot's stand-in for a column it lost
            yield None, "", kind
            continue
        if isinstance(expression, exp.Star):
            asked = name  # what is asked of the relation under the `*`
        else:
            step = _kind(expression)
            kind = step if _RANK[step] > _RANK[kind] else kind
        if not node.downstream:
            if _reads_columns(expression):
                yield None, "", kind
            continue
        stack.extend((child, kind, asked) for child in node.downstream)


def _snapshot_columns(
    config: Mapping[str, Any], inputs: Mapping[str, tuple[Origin, ...]]
) -> dict[str, tuple[Origin, ...]]:
    """The columns dbt adds to a snapshot, each traced through the query's own columns.

    ``timestamp``: the validity columns are the ``updated_at`` column; ``check``: the time of the
    snapshot (no column). ``dbt_scd_id`` hashes the unique key (and ``updated_at``). A unique
    key that is an expression, not a column of the query, leaves ``dbt_scd_id`` untraced.
    """
    names = {key: key for key in (*SNAPSHOT_COLUMNS, "dbt_is_deleted")}
    renamed = config.get("snapshot_meta_column_names")
    if isinstance(renamed, Mapping):
        names.update({k: str(v) for k, v in renamed.items() if k in names and v})
    keys = config.get("unique_key")
    keys = [keys] if isinstance(keys, str) else list(keys or [])
    stamp = config.get("updated_at") if config.get("strategy") == "timestamp" else None

    def through(columns: list[Any], kind: str) -> tuple[Origin, ...] | None:
        found: dict[Origin, None] = {}
        for column in columns:
            if column not in inputs:
                return None
            for one in inputs[column]:
                found[Origin(one.node, one.column, _stronger(kind, one.kind), one.relation)] = None
        return tuple(found)

    added: dict[str, tuple[Origin, ...] | None] = {
        names["dbt_scd_id"]: through([*keys, *([stamp] if stamp else [])], TRANSFORMATION)
        if keys
        else None,
        names["dbt_updated_at"]: through([stamp], IDENTITY) if stamp else (),
        names["dbt_valid_from"]: through([stamp], IDENTITY) if stamp else (),
        names["dbt_valid_to"]: through([stamp], TRANSFORMATION) if stamp else (),
    }
    if config.get("hard_deletes") == "new_record":
        added[names["dbt_is_deleted"]] = ()
    return {column: origins for column, origins in added.items() if origins is not None}


def _stronger(one: str, other: str) -> str:
    return one if _RANK[one] >= _RANK[other] else other


def _reads_columns(expression: Any) -> bool:
    """Whether ``expression`` names a column or a ``*`` (``count(*)`` reads no column)."""
    from sqlglot import exp

    if expression.find(exp.Column) is not None:
        return True
    return any(not isinstance(star.parent, exp.Count) for star in expression.find_all(exp.Star))


def _kind(expression: Any) -> str:
    from sqlglot import exp

    value = expression.this if isinstance(expression, exp.Alias) else expression
    if isinstance(value, exp.Column):
        return IDENTITY
    if isinstance(value, exp.Expr) and value.find(exp.AggFunc) is not None:
        return AGGREGATION
    return TRANSFORMATION
