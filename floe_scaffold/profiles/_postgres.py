"""PostgreSQL (dbt-postgres): user and password from the environment."""

from __future__ import annotations

from floe_scaffold.profiles._properties import Json, PropertyReader
from floe_scaffold.profiles._warehouse import Warehouse, compact

__all__ = ["WAREHOUSE"]


def build_output(props: PropertyReader) -> dict[str, Json]:
    """``database`` is accepted for dbt's ``dbname``; port defaults to 5432."""
    return compact(
        type="postgres",
        host=props.required("host"),
        port=props.integer("port", default=5432, minimum=1, maximum=65535),
        user=props.secret("user"),
        password=props.secret("password"),
        dbname=props.required("dbname", aliases=("database",)),
        schema=props.required("schema"),
        sslmode=props.choice(
            "sslmode",
            ("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
            default="",
        )
        or None,
        threads=props.threads(),
    )


WAREHOUSE = Warehouse(
    target="postgres",
    adapter_package="dbt-postgres",
    documented_properties=("host", "port", "database", "schema", "threads", "sslmode"),
    build_output=build_output,
)
