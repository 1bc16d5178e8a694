"""Snowflake (dbt-snowflake): password, key pair, OAuth or browser sign-in."""

from __future__ import annotations

from floe_scaffold.profiles._properties import Json, PropertyReader
from floe_scaffold.profiles._warehouse import Warehouse, compact

__all__ = ["WAREHOUSE"]

_AUTHENTICATORS = (
    "snowflake",
    "snowflake_jwt",
    "oauth",
    "externalbrowser",
    "username_password_mfa",
)


def build_output(props: PropertyReader) -> dict[str, Json]:
    """``authenticator`` picks the credentials read from the environment (default: password)."""
    auth = props.choice("authenticator", _AUTHENTICATORS, default="snowflake")
    return compact(
        type="snowflake",
        account=props.required("account"),
        user=props.secret("user"),
        password=props.secret("password")
        if auth in {"snowflake", "username_password_mfa"}
        else None,
        private_key_path=props.secret("private_key_path") if auth == "snowflake_jwt" else None,
        private_key_passphrase=(
            props.secret("private_key_passphrase", required=False)
            if auth == "snowflake_jwt"
            else None
        ),
        token=props.secret("token") if auth == "oauth" else None,
        authenticator=auth
        if auth in {"oauth", "externalbrowser", "username_password_mfa"}
        else None,
        role=props.optional("role"),
        database=props.required("database"),
        warehouse=props.required("warehouse"),
        schema=props.required("schema"),
        query_tag=props.optional("query_tag"),
        threads=props.threads(),
    )


WAREHOUSE = Warehouse(
    target="snowflake",
    adapter_package="dbt-snowflake",
    documented_properties=(
        "account",
        "warehouse",
        "database",
        "schema",
        "role",
        "authenticator",
        "query_tag",
        "threads",
    ),
    build_output=build_output,
)
