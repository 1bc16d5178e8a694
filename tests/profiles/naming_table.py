"""The variable-name rule as a table of examples, written from the README, not from the code.

README ("profiles.yml", Variable names): every variable is ``<PREFIX>[_<ENV>]_<KEY>``; PREFIX is
the secret ref upper-cased with every other character as ``_`` (a leading digit gets ``FLOE_``),
or ``FLOE_<TARGET>`` without one; ``_<ENV>`` only for environments named with ``--env``; KEY is
the profile key upper-cased. Each row below is one application of that sentence, worked out by
hand, so a test comparing against it does not re-run the rule it checks.
"""

from __future__ import annotations

__all__ = ["KEYS", "PREFIXES", "expected_name"]

#: The seven compute targets, for rows that hold whatever the target.
TARGETS = ("duckdb", "postgres", "snowflake", "bigquery", "redshift", "databricks", "spark")

#: ``(target, secret ref, --env name or None) -> PREFIX[_ENV]``.
PREFIXES: dict[tuple[str, str | None, str | None], str] = {
    # Without a secret ref: FLOE_<TARGET>.
    ("duckdb", None, None): "FLOE_DUCKDB",
    ("postgres", None, None): "FLOE_POSTGRES",
    ("snowflake", None, None): "FLOE_SNOWFLAKE",
    ("bigquery", None, None): "FLOE_BIGQUERY",
    ("redshift", None, None): "FLOE_REDSHIFT",
    ("databricks", None, None): "FLOE_DATABRICKS",
    ("spark", None, None): "FLOE_SPARK",
    # The README's own examples.
    ("snowflake", "snowflake-prod-creds", None): "SNOWFLAKE_PROD_CREDS",
    ("snowflake", "snowflake-prod-creds", "dev"): "SNOWFLAKE_PROD_CREDS_DEV",
    ("snowflake", "snowflake-prod-creds", "prod"): "SNOWFLAKE_PROD_CREDS_PROD",
    ("postgres", None, "prod"): "FLOE_POSTGRES_PROD",
    # A secret ref names the prefix whatever the target.
    **{(target, "prod-creds", None): "PROD_CREDS" for target in TARGETS},
    **{
        (target, "team", env): f"TEAM_{env.upper()}"
        for target in TARGETS
        for env in ("dev", "prod")
    },
    # A leading digit, and a dot.
    **{(target, "9lives.db", None): "FLOE_9LIVES_DB" for target in TARGETS},
    ("postgres", "pg.analytics-eu", None): "PG_ANALYTICS_EU",
    ("postgres", "pg", "staging-eu"): "PG_STAGING_EU",
    ("redshift", "rs", "Prod"): "RS_PROD",
}

#: Profile keys as KEY: upper-cased (they are lower-case words joined by ``_``).
KEYS = {
    "account": "ACCOUNT",
    "client_id": "CLIENT_ID",
    "client_secret": "CLIENT_SECRET",
    "cluster": "CLUSTER",
    "cluster_id": "CLUSTER_ID",
    "database": "DATABASE",
    "dataset": "DATASET",
    "dbname": "DBNAME",
    "driver": "DRIVER",
    "host": "HOST",
    "http_path": "HTTP_PATH",
    "keyfile": "KEYFILE",
    "motherduck_token": "MOTHERDUCK_TOKEN",
    "password": "PASSWORD",
    "PASSWORD": "PASSWORD",  # a key written in capitals names the same variable
    "private_key_passphrase": "PRIVATE_KEY_PASSPHRASE",
    "private_key_path": "PRIVATE_KEY_PATH",
    "project": "PROJECT",
    "schema": "SCHEMA",
    "token": "TOKEN",
    "user": "USER",
    "warehouse": "WAREHOUSE",
}


def expected_name(target: str, secret_ref: str | None, env: str | None, key: str) -> str:
    """The table's name for one variable: its PREFIX row, ``_``, and the key upper-cased."""
    return f"{PREFIXES[(target, secret_ref, env)]}_{KEYS[key]}"
