"""``floe dev``: the Dagster UI for a generated project."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from floe_scaffold.project._locate import ProjectLayout
from floe_scaffold.project._run import project_home

__all__ = ["dev_command", "dev_environment"]


def dev_command(layout: ProjectLayout, *, host: str, port: int) -> list[str]:
    """``dagster dev`` for the project's definitions module."""
    dagster = Path(sys.executable).parent / "dagster"
    return [
        str(dagster) if dagster.exists() else "dagster",
        "dev",
        "-m",
        f"{layout.package}.definitions",
        "--working-directory",
        str(layout.root),
        "--host",
        host,
        "--port",
        str(port),
    ]


def dev_environment(layout: ProjectLayout) -> dict[str, str]:
    """The environment for ``dagster dev``: the project's ``src/`` importable, no telemetry."""
    environment = dict(os.environ)
    paths = [str(layout.source_dir), *filter(None, environment.get("PYTHONPATH", "").split(":"))]
    environment["PYTHONPATH"] = os.pathsep.join(paths)
    environment.setdefault("DAGSTER_DG_UPDATE_CHECK_ENABLED", "0")
    environment.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    environment.setdefault("DAGSTER_HOME", str(project_home(layout)))
    return environment
