"""Small builders shared by the tests: contracts built inline, and paths to the fixtures.

Every fixture lives in the repository under ``tests/fixtures/`` (licences and sources in its
NOTICE.md): the suite reads nothing outside the checkout.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
#: The docs site's sources (mkdocs.yml at the root): where the README's details live.
DOCS = ROOT / "docs"
GOLDEN_DIR = FIXTURES / "floe-runtime" / "golden_artifacts" / "v1.0.0"
CONTRACTS_DIR = FIXTURES / "floe-runtime" / "contracts"
OPENLINEAGE_SPEC_DIR = FIXTURES / "openlineage-spec" / "spec"
REAL_DBT_DIR = FIXTURES / "real-dbt"
JAFFLE_SHOP_DIR = REAL_DBT_DIR / "jaffle_shop_duckdb"
DBT_UTILS_DIR = REAL_DBT_DIR / "dbt_utils"
GOLDEN_PATHS = sorted(GOLDEN_DIR.glob("*.json"))

#: Non-secret properties that make a complete profile for each target.
TARGET_PROPERTIES: dict[str, dict[str, Any]] = {
    "duckdb": {"path": "warehouse.duckdb", "threads": 2},
    "postgres": {"host": "db.internal", "port": 5433, "database": "analytics", "schema": "marts"},
    "snowflake": {
        "account": "xy12345.us-east-1",
        "warehouse": "COMPUTE_WH",
        "database": "ANALYTICS",
        "schema": "PUBLIC",
        "role": "TRANSFORMER",
    },
    "bigquery": {"project": "my-gcp-project", "dataset": "analytics", "location": "EU"},
    "redshift": {
        "host": "cluster.abc.eu-west-1.redshift.amazonaws.com",
        "database": "analytics",
        "schema": "public",
    },
    "databricks": {
        "host": "adb-123.azuredatabricks.net",
        "http_path": "/sql/1.0/warehouses/abc",
        "catalog": "main",
        "schema": "analytics",
    },
    "spark": {"method": "thrift", "host": "spark.internal", "schema": "analytics"},
}
TARGETS = tuple(TARGET_PROPERTIES)


@dataclass(frozen=True)
class CliResult:
    """What one ``floe`` invocation returned and printed."""

    exit_code: int
    stdout: str
    stderr: str


class FloeRunner(Protocol):
    """The ``floe`` fixture: ``floe("validate", path)`` runs the CLI in-process."""

    def __call__(self, *args: object) -> CliResult: ...


def build_contract(**overrides: Any) -> dict[str, Any]:
    """A minimal valid CompiledArtifacts dict; keyword overrides are merged in deeply."""
    base: dict[str, Any] = {
        "version": "1.0.0",
        "metadata": {
            "compiled_at": "2024-01-15T10:30:00Z",
            "floe_core_version": "0.1.0",
            "source_hash": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        },
        "compute": {"target": "duckdb", "properties": {}},
        "transforms": [{"type": "dbt", "path": "./dbt"}],
    }
    return _merge(base, overrides)


def contract_for(target: str, **compute: Any) -> dict[str, Any]:
    """A contract for ``target`` with its complete properties (overridable)."""
    settings = {"target": target, "properties": dict(TARGET_PROPERTIES[target]), **compute}
    return build_contract(compute=settings)


def write_json(directory: Path, data: Any, name: str = "compiled_artifacts.json") -> Path:
    """Write ``data`` as JSON into ``directory`` and return the file."""
    path = directory / name
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def tree_snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` with its bytes, to prove nothing changed."""
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def count_queries(adapter: Any) -> list[str]:
    """Record every SQL statement the dbt ``adapter`` executes from now on (it still runs it)."""
    queries: list[str] = []
    execute = adapter.execute

    def counted(sql: str, *args: Any, **kwargs: Any) -> Any:
        queries.append(sql)
        return execute(sql, *args, **kwargs)

    adapter.execute = counted
    return queries


def _merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), dict):
            result[key] = _merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def weakened(node: pytest.Item, why: str) -> None:
    """A check about to run in a weaker form, because this machine cannot do the full one.

    Under CI (``CI`` set: the machine is known to allow every full check) that is a failure;
    elsewhere the run's closing summary lists it ("weakened on this machine"), so a weaker check
    is never taken silently for the real one.
    """
    if os.environ.get("CI"):
        pytest.fail(f"{why}; CI's machine allows the full check, so this one must not weaken")
    node.user_properties.append(("weakened", why))


def docs_page(name: str) -> str:
    """The Markdown of one docs page, ``docs/<name>`` (``how-to/kubernetes.md``)."""
    return (DOCS / name).read_text(encoding="utf-8")
