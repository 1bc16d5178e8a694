"""DuckDB (dbt-duckdb): a database file on disk, or ``:memory:``. No credentials."""

from __future__ import annotations

from floe_scaffold.profiles._properties import Json, PropertyReader
from floe_scaffold.profiles._warehouse import Warehouse, compact

__all__ = ["WAREHOUSE"]


def build_output(props: PropertyReader) -> dict[str, Json]:
    """``path`` defaults to ``:memory:`` as in the origin; ``schema`` to DuckDB's ``main``."""
    return compact(
        type="duckdb",
        path=props.optional("path") or ":memory:",
        schema=props.optional("schema"),
        extensions=props.optional_strings("extensions"),  # type: ignore[arg-type]
        threads=props.threads(),
    )


WAREHOUSE = Warehouse(
    target="duckdb",
    adapter_package="dbt-duckdb",
    documented_properties=("path", "schema", "extensions", "threads"),
    build_output=build_output,
)
