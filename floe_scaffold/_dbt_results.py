"""What dbt's result line of a node says beyond its status: the rows the adapter reported.

dbt's ``Log*Result`` events carry the adapter's response message as ``status`` (``SELECT 29``
on PostgreSQL and Redshift, ``INSERT 100`` for any seed, ``INSERT 0 5`` for a PostgreSQL
snapshot's merge, ``OK`` where the adapter counts nothing, DuckDB's models say). Its trailing
number is the response's ``rows_affected``, the figure dbt writes to ``run_results.json`` at
the end of the invocation and that dbt-ol reads from there; floe reads it as the node finishes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["reported_rows"]

_ROWS = re.compile(r"(\d+)\s*\)?\s*$")


def reported_rows(data: Mapping[str, Any]) -> int | None:
    """The rows a result event's adapter message reports (its ``data``), else None."""
    found = _ROWS.search(str(data.get("result_message") or data.get("status") or ""))
    return int(found.group(1)) if found else None
