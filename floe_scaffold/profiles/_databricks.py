"""Databricks (dbt-databricks): a SQL warehouse with a token, or OAuth machine-to-machine."""

from __future__ import annotations

from floe_scaffold.profiles._properties import Json, PropertyReader
from floe_scaffold.profiles._warehouse import Warehouse, compact

__all__ = ["WAREHOUSE"]


def build_output(props: PropertyReader) -> dict[str, Json]:
    """``auth_type: oauth`` reads a client id and secret instead of a personal access token."""
    auth = props.choice("auth_type", ("token", "oauth"), default="token")
    oauth = auth == "oauth"
    return compact(
        type="databricks",
        host=props.required("host"),
        http_path=props.required("http_path"),
        auth_type="oauth" if oauth else None,
        token=None if oauth else props.secret("token"),
        client_id=props.secret("client_id") if oauth else None,
        client_secret=props.secret("client_secret") if oauth else None,
        catalog=props.optional("catalog"),
        schema=props.required("schema"),
        threads=props.threads(),
    )


WAREHOUSE = Warehouse(
    target="databricks",
    adapter_package="dbt-databricks",
    documented_properties=("host", "http_path", "catalog", "schema", "auth_type", "threads"),
    build_output=build_output,
)
