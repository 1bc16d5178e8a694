"""The explicit registry of compute targets. A new target is one line here and one module."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from floe_scaffold.contract import ComputeTargetName
from floe_scaffold.profiles import (
    _bigquery,
    _databricks,
    _duckdb,
    _postgres,
    _redshift,
    _snowflake,
    _spark,
)
from floe_scaffold.profiles._warehouse import Warehouse

__all__ = ["WAREHOUSES", "warehouse_for"]

WAREHOUSES: Final[Mapping[ComputeTargetName, Warehouse]] = MappingProxyType(
    {
        "duckdb": _duckdb.WAREHOUSE,
        "postgres": _postgres.WAREHOUSE,
        "snowflake": _snowflake.WAREHOUSE,
        "bigquery": _bigquery.WAREHOUSE,
        "redshift": _redshift.WAREHOUSE,
        "databricks": _databricks.WAREHOUSE,
        "spark": _spark.WAREHOUSE,
    }
)


def warehouse_for(target: ComputeTargetName) -> Warehouse:
    """The registered warehouse of ``target`` (the contract already restricts the names)."""
    return WAREHOUSES[target]
