"""OpenLineage names for jobs and datasets: dbt-ol's, for the same project and profile.

Events then join with what users already collect with dbt-ol (openlineage-dbt, default
artifacts mode). Every rule here is the one dbt-ol applies, and the tests prove it by running
dbt-ol (DuckDB) and by calling its own naming code on floe's generated profiles (all targets).

| target | dataset namespace, from the profile output as written |
|---|---|
| duckdb | ``duckdb://{path}``, the ``path`` as written (``duckdb://warehouse.duckdb``) |
| postgres | ``postgres://{host}:{port}`` |
| snowflake | ``snowflake://{account}``: ``org-account``, or ``locator.region.cloud`` |
| bigquery | ``bigquery`` |
| redshift | ``redshift://{host}:{port}`` |
| databricks | ``databricks://{host}`` |
| spark | ``spark://{host}:{port}`` (port default: 443 for http/odbc, 10001 for thrift) |

Dataset names are ``database.schema.table`` with empty parts left out (Spark has no database);
the table is a model's, seed's or snapshot's ``alias`` and a source's ``name``.

Jobs are ``{database}.{schema}.{unique_id without its "model."}`` for models (that is
``db.schema.package.model``) plus ``.build.run`` under ``dbt build`` (nothing otherwise), and
``.build.snapshot`` / ``.snapshot`` for snapshots. Data tests are one job per *tested* node,
``{database}.{schema}.{unique_id without "model."}.build.test`` (``.test`` under ``dbt test``),
the tested node being the test's last model, source or seed parent in ``parent_map``; a
singular test is also its own job, named by its unique id. dbt-ol names no seed job and drops
the tests of seeds: floe's seed jobs (``….build.seed`` / ``….seed``) and the test jobs of seeds
(``db.schema.package.seed.build.test``) are additions.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "data_test_job_name",
    "dataset_name",
    "dataset_namespace",
    "format_name",
    "node_job_name",
    "resolve_env_refs",
]

_ENV_REF = re.compile(
    r"\{\{\s*env_var\(\s*'([^']+)'\s*(?:,\s*'([^']*)'\s*)?\)\s*(?:\|\s*\w+\s*)*\}\}"
)
#: The suffix of a job under ``dbt build`` and under the resource's own command.
_SUFFIX = {
    "model": (".build.run", ""),
    "snapshot": (".build.snapshot", ".snapshot"),
    "seed": (".build.seed", ".seed"),
}


def resolve_env_refs(value: object) -> str:
    """A non-secret profile value with ``{{ env_var('X') }}`` read from the environment.

    Only connection coordinates (host, port, account, path) go through here, never credentials.
    An unset variable stays visible as ``${X}`` rather than failing the run (dbt-ol raises).
    """

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        return os.environ.get(name, default if default is not None else f"${{{name}}}")

    return _ENV_REF.sub(substitute, str(value))


def dataset_namespace(target: str, output: Mapping[str, Any]) -> str:
    """The dataset namespace of every relation of one dbt profile output (dbt-ol's)."""

    def get(key: str, default: object = "") -> str:
        return resolve_env_refs(output.get(key, default))

    if target == "duckdb":
        return f"duckdb://{get('path', ':memory:')}"
    if target in {"postgres", "redshift"}:
        return f"{target}://{get('host')}:{get('port', 5432 if target == 'postgres' else 5439)}"
    if target == "snowflake":
        return f"snowflake://{_snowflake_account(get('account'))}"
    if target == "bigquery":
        return "bigquery"
    if target == "databricks":
        return f"databricks://{get('host')}"
    if target == "spark":
        return _spark_namespace(output, get)
    raise ValueError(f"no dataset naming for target {target!r}")  # pragma: no cover


def _snowflake_account(account: str) -> str:
    """dbt-ol's (and the spec's) account: ``org-account`` as is, else ``locator.region.cloud``."""
    parts = account.split(".")
    if "-" in parts[0]:
        return parts[0]
    if len(parts) == 1:
        return f"{parts[0]}.us-west-1.aws"
    if len(parts) == 2:  # locator.region
        return f"{parts[0]}.{parts[1]}.aws"
    return account


def _spark_namespace(output: Mapping[str, Any], get: Any) -> str:
    method = get("method", "thrift")
    if "port" in output:
        port = f":{get('port')}"
    else:
        port = {"http": ":443", "odbc": ":443", "thrift": ":10001"}.get(method, "")
    # dbt-ol names no `session` Spark (it raises); floe names the local session's host.
    return f"spark://{get('host', 'localhost')}{port}"


def format_name(*parts: object) -> str:
    """Parts joined with ``.``, empty ones left out (dbt-ol's ``_format_dataset_name``)."""
    return ".".join(str(part) for part in parts if part)


def dataset_name(node: Mapping[str, Any]) -> str:
    """``database.schema.table`` of a model, seed, snapshot (alias) or source (identifier).

    A source is named as the relation dbt reads, its ``identifier`` (its ``name`` unless set),
    where dbt-ol takes the source's logical ``name``: a source ``orders`` with ``identifier:
    orders_data`` reads ``orders_data``, and only that name joins what wrote the table.
    """
    if node.get("resource_type") == "source":
        table = node.get("identifier") or node.get("name")
    else:
        table = node.get("alias")
    return format_name(node.get("database"), node.get("schema"), table or node.get("name"))


def node_job_name(node: Mapping[str, Any], command: str) -> str:
    """The job of one executed model, snapshot or seed."""
    resource = str(node.get("resource_type", "model"))
    unique_id = str(node["unique_id"])
    base = format_name(node.get("database"), node.get("schema"), _without(unique_id, resource))
    under_build, alone = _SUFFIX.get(resource, (f".build.{resource}", f".{resource}"))
    return base + (under_build if command == "build" else alone)


def data_test_job_name(tested: Mapping[str, Any], command: str) -> str:
    """The one test job of every data test on ``tested`` (a model, source or seed)."""
    # dbt-ol strips "model." only (a source keeps "source."); floe's seed test jobs strip "seed.".
    unique_id = _without(_without(str(tested["unique_id"]), "model"), "seed")
    base = format_name(tested.get("database"), tested.get("schema"), unique_id)
    return base + (".build.test" if command == "build" else ".test")


def _without(unique_id: str, resource: str) -> str:
    prefix = f"{resource}."
    return unique_id[len(prefix) :] if unique_id.startswith(prefix) else unique_id
