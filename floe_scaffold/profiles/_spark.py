"""Apache Spark (dbt-spark): Thrift server, HTTP, ODBC, or a local in-process session."""

from __future__ import annotations

from floe_scaffold.profiles._properties import Json, PropertyReader
from floe_scaffold.profiles._warehouse import Warehouse, compact

__all__ = ["WAREHOUSE"]

_DEFAULT_PORTS = {"thrift": 10000, "http": 443, "odbc": 443}
_PASSWORD_AUTH = ("LDAP", "CUSTOM")


def build_output(props: PropertyReader) -> dict[str, Json]:
    """``method`` defaults to ``thrift`` (as in the origin).

    * ``thrift``: ``host``, ``port`` 10000; ``auth: LDAP``/``CUSTOM`` reads user and password.
    * ``http``: ``host``, ``cluster``, a token.
    * ``odbc``: ``host``, ``driver``, ``cluster`` or ``endpoint``, a token.
    * ``session``: a local pyspark session; ``host`` is not used and defaults to ``localhost``.
    """
    method = props.choice("method", ("thrift", "http", "odbc", "session"), default="thrift")
    session = method == "session"
    return compact(
        type="spark",
        method=method,
        host=(props.optional("host") or "localhost") if session else props.required("host"),
        port=None
        if session
        else props.integer("port", default=_DEFAULT_PORTS[method], minimum=1, maximum=65535),
        schema=props.required("schema"),
        **_method_settings(props, method),
        threads=props.threads(),
    )


def _method_settings(props: PropertyReader, method: str) -> dict[str, Json]:
    if method == "thrift":
        auth = props.optional("auth")
        password_auth = auth is not None and auth.upper() in _PASSWORD_AUTH
        return compact(
            auth=auth,
            user=props.secret("user") if password_auth else None,
            password=props.secret("password") if password_auth else None,
        )
    if method == "http":
        return compact(cluster=props.required("cluster"), token=props.secret("token"))
    if method == "odbc":
        endpoint = props.optional("endpoint")
        return compact(
            driver=props.required("driver"),
            endpoint=endpoint,
            cluster=None if endpoint else props.required("cluster"),
            token=props.secret("token"),
        )
    return {}


WAREHOUSE = Warehouse(
    target="spark",
    adapter_package="dbt-spark",
    documented_properties=(
        "method",
        "host",
        "port",
        "schema",
        "cluster",
        "endpoint",
        "driver",
        "auth",
        "threads",
    ),
    build_output=build_output,
)
