"""OpenLineage names for jobs and datasets, following dbt-ol.

Events then join with what users already collect with dbt-ol (observability.md §6: where the
spec and dbt-ol differ, dbt-ol wins).

| target | dataset namespace | dataset name |
|---|---|---|
| duckdb | ``duckdb://{absolute database path}`` | ``{database}.{schema}.{table}`` |
| postgres | ``postgres://{host}:{port}`` | ``{database}.{schema}.{table}`` |
| snowflake | ``snowflake://{account}`` (lower-cased) | ``{database}.{schema}.{table}`` |
| bigquery | ``bigquery`` | ``{project}.{dataset}.{table}`` |
| redshift | ``redshift://{host}:{port}`` | ``{database}.{schema}.{table}`` |
| databricks | ``databricks://{host}`` | ``{catalog}.{schema}.{table}`` |
| spark | ``spark://{host}:{port}`` | ``{schema}.{table}`` |

Jobs: the dbt invocation is ``dbt-run-{project}``; a node is
``{database}.{schema}.{project}.{name}`` plus ``.build.run`` / ``.build.seed`` /
``.build.snapshot`` / ``.build.test`` under ``dbt build`` (``.run``, ``.seed``… otherwise).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["dataset_name", "dataset_namespace", "node_job_name", "resolve_env_refs"]

_ENV_REF = re.compile(r"\{\{\s*env_var\(\s*'([^']+)'\s*(?:,\s*'([^']*)'\s*)?\)\s*\}\}")
_SUFFIX = {"model": "run", "seed": "seed", "snapshot": "snapshot", "test": "test"}


def resolve_env_refs(value: object) -> str:
    """A non-secret profile value with ``{{ env_var('X') }}`` read from the environment.

    Only connection coordinates (host, port, account, path) go through here, never credentials.
    An unset variable stays visible as ``${X}`` rather than failing the run.
    """

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        return os.environ.get(name, default if default is not None else f"${{{name}}}")

    return _ENV_REF.sub(substitute, str(value))


def dataset_namespace(target: str, output: Mapping[str, Any], dbt_project_dir: Path) -> str:
    """The dataset namespace of every relation of one dbt profile output."""

    def get(key: str, default: object = "") -> str:
        return resolve_env_refs(output.get(key, default))

    if target == "duckdb":
        path = get("path", ":memory:")
        if path != ":memory:" and not path.startswith(("md:", "motherduck:")):
            path = str((dbt_project_dir / path).resolve())
        return f"duckdb://{path}"
    if target == "postgres":
        return f"postgres://{get('host')}:{get('port', 5432)}"
    if target == "redshift":
        return f"redshift://{get('host')}:{get('port', 5439)}"
    if target == "snowflake":
        return f"snowflake://{get('account').lower()}"
    if target == "bigquery":
        return "bigquery"
    if target == "databricks":
        return f"databricks://{get('host')}"
    if target == "spark":
        method = get("method", "thrift")
        default_port = 10000 if method == "thrift" else 443
        return f"spark://{get('host', 'localhost')}:{get('port', default_port)}"
    raise ValueError(f"no dataset naming for target {target!r}")  # pragma: no cover


def dataset_name(target: str, node: Mapping[str, Any]) -> str:
    """``database.schema.table`` of a model, seed, snapshot or source (Spark: ``schema.table``)."""
    table = node.get("alias") or node.get("identifier") or node["name"]
    parts = [node.get("schema"), table]
    if target != "spark":
        parts.insert(0, node.get("database"))
    return ".".join(str(part) for part in parts if part)


def node_job_name(node: Mapping[str, Any], project: str, command: str) -> str:
    """dbt-ol's job name of one executed node."""
    resource = str(node.get("resource_type", "model"))
    base = ".".join(
        str(part)
        for part in (node.get("database"), node.get("schema"), project, node.get("name"))
        if part
    )
    suffix = _SUFFIX.get(resource, resource)
    return f"{base}.build.{suffix}" if command == "build" else f"{base}.{suffix}"
