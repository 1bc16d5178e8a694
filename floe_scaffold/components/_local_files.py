"""Folders a local warehouse needs before dbt opens it.

dbt-duckdb opens its database file but does not create the folders above it, so a profile with
``path: data/warehouse.duckdb`` fails on a fresh checkout (``IO Error: Cannot open file``). dbt
resolves a relative ``path`` from the dbt project directory (the directory dbt runs in, for
``floe run``, ``dagster dev`` and run pods alike), and so does this.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from floe_scaffold.lineage._naming import resolve_env_refs

__all__ = ["duckdb_database_path", "ensure_duckdb_folder"]

_NOT_A_FILE = (":memory:", "md:", "motherduck:", "s3://", "gs://", "gcs://", "az://", "http")


def duckdb_database_path(output: Mapping[str, Any], dbt_project_dir: Path) -> Path | None:
    """The database file of a DuckDB profile output, resolved as dbt resolves it; else None.

    None for another adapter, an in-memory or remote database, or a path whose environment
    variable is not set.
    """
    if output.get("type") != "duckdb":
        return None
    raw = resolve_env_refs(output.get("path", ":memory:")).strip()
    if not raw or raw.startswith(_NOT_A_FILE) or "${" in raw:
        return None
    path = Path(raw).expanduser()
    return path if path.is_absolute() else dbt_project_dir / path


def ensure_duckdb_folder(output: Mapping[str, Any], dbt_project_dir: Path) -> Path | None:
    """Create the folder of a DuckDB profile's database file; return the file's path.

    A folder that cannot be created is left to dbt, whose error then names the file.
    """
    path = duckdb_database_path(output, dbt_project_dir)
    if path is None:
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return path
    return path
