"""Running the tools of this environment as child processes, quietly and without telemetry."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
ENV = {
    **os.environ,
    "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "DO_NOT_TRACK": "1",
    "DAGSTER_DG_UPDATE_CHECK_ENABLED": "0",
}


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run ``command`` to completion and return its stdout; fail loudly, with its output."""
    done = subprocess.run(
        command, cwd=cwd, env=env or ENV, capture_output=True, text=True, check=False, timeout=1800
    )
    if done.returncode != 0:
        shown = " ".join(command)[:300]
        raise RuntimeError(f"{shown} failed:\n{done.stdout[-2000:]}\n{done.stderr[-8000:]}")
    return done.stdout


def timed_floe_run(project: Path, env: dict[str, str]) -> float:
    """Seconds of one ``floe run`` in ``project`` with only the given OTel/OpenLineage settings."""
    clean = {k: v for k, v in ENV.items() if not k.startswith(("OTEL_", "OPENLINEAGE"))}
    start = time.perf_counter()
    run([str(BIN / "floe"), "run"], project, {**clean, **env})
    return time.perf_counter() - start
