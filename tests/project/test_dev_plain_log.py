"""`floe dev` with its output in a file: no ANSI escape sequences from Dagster or dbt (issue 28).

Real processes: `floe dev` (dg dev: webserver, daemon, code server) with stdout and stderr in a
file and no ``NO_COLOR``; a run launched through the UI's GraphQL endpoint runs dbt, with
``use_colors: true`` in ``dbt_project.yml``, in a run worker writing to the same output.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.project.conftest import BIN, copy_project, processes_in, quiet_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]

#: How long the UI, then the run, may take on a loaded 2-core machine (bounds, not measurements).
UI_START_SECONDS = 240
RUN_SECONDS = 300


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _graphql(port: int, query: str) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - 127.0.0.1
        body = json.load(response)
    assert "errors" not in body, body
    return body["data"]


def test_floe_dev_writes_no_colour_codes_to_a_file(demo_project: Path, tmp_path: Path) -> None:
    project = copy_project(demo_project, tmp_path)
    dbt_project = project / "dbt" / "dbt_project.yml"
    config = yaml.safe_load(dbt_project.read_text(encoding="utf-8"))
    config.setdefault("flags", {})["use_colors"] = True
    dbt_project.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    env = quiet_env(PYTHONPATH=str(project / "src"))
    for name in ("NO_COLOR", "DAGSTER_HOME", "DBT_USE_COLORS", "FORCE_COLOR"):
        env.pop(name, None)
    port = _free_port()
    log = tmp_path / "dev.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "floe"), "dev", "--port", str(port)],
            cwd=project,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        started = time.monotonic()
        while "the Dagster UI is at" not in log.read_text(errors="replace"):
            assert process.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() - started < UI_START_SECONDS, log.read_text(errors="replace")
            time.sleep(0.5)
        location = _graphql(
            port, "{ workspaceOrError { ... on Workspace { locationEntries { name } } } }"
        )
        (entry,) = location["workspaceOrError"]["locationEntries"]
        launched = _graphql(
            port,
            "mutation { launchRun(executionParams: { selector: { repositoryLocationName: "
            f'"{entry["name"]}", repositoryName: "__repository__", jobName: "__ASSET_JOB" }} }}) '
            "{ __typename ... on LaunchRunSuccess { run { runId } } "
            "... on PythonError { message } } }",
        )["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_id = launched["run"]["runId"]
        status = "QUEUED"
        started = time.monotonic()
        while status not in {"SUCCESS", "FAILURE", "CANCELED"}:
            assert time.monotonic() - started < RUN_SECONDS, log.read_text(errors="replace")
            time.sleep(1)
            run = _graphql(
                port, f'{{ runOrError(runId: "{run_id}") {{ ... on Run {{ status }} }} }}'
            )
            status = run["runOrError"]["status"]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    output = log.read_bytes()
    text = output.decode("utf-8", errors="replace")
    assert status == "SUCCESS", text[-5000:]
    # What would have been coloured is there: Dagster's log lines and dbt's, from the run worker.
    assert " - dagster-webserver - INFO - Serving dagster-webserver on" in text, text[-5000:]
    assert "OK created sql table model" in text, text[-5000:]
    escapes = [line for line in text.splitlines() if "\x1b" in line]
    assert escapes == [], escapes[:5]
    assert process.returncode == 0, text[-5000:]
    assert processes_in(project.resolve()) == [], "floe dev left processes behind"
