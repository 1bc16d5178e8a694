"""Google BigQuery (dbt-bigquery): OAuth (application default credentials) or a key file."""

from __future__ import annotations

from floe_scaffold.profiles._properties import Json, PropertyReader
from floe_scaffold.profiles._warehouse import Warehouse, compact

__all__ = ["WAREHOUSE"]


def build_output(props: PropertyReader) -> dict[str, Json]:
    """``method: service-account`` reads the key file path from the environment."""
    method = props.choice("method", ("oauth", "service-account"), default="oauth")
    return compact(
        type="bigquery",
        method=method,
        project=props.required("project"),
        dataset=props.required("dataset", aliases=("schema",)),
        keyfile=props.secret("keyfile") if method == "service-account" else None,
        location=props.optional("location"),
        maximum_bytes_billed=props.optional_integer(
            "maximum_bytes_billed", minimum=1, maximum=2**63 - 1
        ),
        threads=props.threads(),
    )


WAREHOUSE = Warehouse(
    target="bigquery",
    adapter_package="dbt-bigquery",
    documented_properties=(
        "project",
        "dataset",
        "location",
        "method",
        "maximum_bytes_billed",
        "threads",
    ),
    build_output=build_output,
)
