"""Amazon Redshift (dbt-redshift): database user and password, or IAM."""

from __future__ import annotations

from floe_scaffold.profiles._properties import Json, PropertyReader
from floe_scaffold.profiles._warehouse import Warehouse, compact

__all__ = ["WAREHOUSE"]


def build_output(props: PropertyReader) -> dict[str, Json]:
    """``method: database`` (default) reads a password; ``method: iam`` needs ``cluster_id``."""
    method = props.choice("method", ("database", "iam"), default="database")
    iam = method == "iam"
    return compact(
        type="redshift",
        method=method if iam else None,
        host=props.required("host"),
        port=props.integer("port", default=5439, minimum=1, maximum=65535),
        user=props.secret("user"),
        password=None if iam else props.secret("password"),
        cluster_id=props.required("cluster_id") if iam else None,
        dbname=props.required("dbname", aliases=("database",)),
        schema=props.required("schema"),
        region=props.optional("region"),
        ra3_node=props.optional_boolean("ra3_node"),
        threads=props.threads(),
    )


WAREHOUSE = Warehouse(
    target="redshift",
    adapter_package="dbt-redshift",
    documented_properties=(
        "host",
        "port",
        "database",
        "schema",
        "method",
        "cluster_id",
        "region",
        "ra3_node",
        "threads",
    ),
    build_output=build_output,
)
