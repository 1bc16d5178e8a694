"""One Dagster instance per project: `floe run` records there, `floe dev` shows it, stops cleanly.

Real processes only: `floe run` on DuckDB, then `floe dev` (dg dev: webserver, daemon, code
servers) on 127.0.0.1, read through the Dagster instance API and the UI's GraphQL endpoint, then
stopped with SIGTERM.
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

from floe_scaffold.project._dev import GRACE_SECONDS, group_members
from floe_scaffold.project._locate import tomllib
from tests.observability.test_lineage_config import SCHEDULING_SLACK
from tests.project.conftest import BIN, DEMO_ASSETS, copy_project, processes_in, quiet_env

pytestmark = pytest.mark.slow

#: How long the UI may take to answer on a loaded 2-core machine (a bound, not a measurement).
UI_START_SECONDS = 240
#: After SIGTERM, no process of `floe dev`'s tree remains past floe's grace period (then it
#: kills what is left) and the suite's shared allowance for a loaded machine's scheduling.
STOP_SECONDS = GRACE_SECONDS + SCHEDULING_SLACK


def _env_without_home(project: Path) -> dict[str, str]:
    env = quiet_env(PYTHONPATH=str(project / "src"))
    env.pop("DAGSTER_HOME", None)
    return env


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
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - 127.0.0.1
        return json.load(response)["data"]


def _descendants(pid: int) -> set[int]:
    """Every live process under ``pid`` (from /proc's parent links)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_floe_run_shows_in_floe_dev_which_stops_cleanly_on_sigterm(
    demo_project: Path, tmp_path: Path
) -> None:
    project = copy_project(demo_project, tmp_path)
    env = _env_without_home(project)
    done = subprocess.run(
        [str(BIN / "floe"), "run"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    home = project / ".dagster_home"
    assert f"recorded in {home}" in done.stdout

    # The instance API: the run, every asset's materialization, every check's result.
    import dagster as dg
    from dagster._core.events import DagsterEventType

    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert len(runs) == 1
        run = runs[0]
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert run.run_id.startswith(done.stdout.split("run ")[-1].split()[0])
        for asset in DEMO_ASSETS:
            event = instance.get_latest_materialization_event(dg.AssetKey(asset))
            assert event is not None and event.run_id == run.run_id, asset
        checks = instance.get_records_for_run(
            run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
        ).records
        evaluations: list[Any] = [
            record.event_log_entry.get_dagster_event().event_specific_data for record in checks
        ]
        assert len(evaluations) >= 5
        # dbt's tests pass; the source's freshness warns (the starter's orders end in 2024)
        stale = [e for e in evaluations if e.check_name == "source_freshness"]
        assert [(e.passed, e.severity.value) for e in stale] == [(False, "WARN")]
        assert all(e.passed for e in evaluations if e.check_name != "source_freshness")

    # `floe dev` on the same project shows that run, from the same instance.
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
    tree: set[int] = set()
    try:
        started = time.monotonic()
        while "the Dagster UI is at" not in log.read_text(errors="replace"):
            assert process.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() - started < UI_START_SECONDS, log.read_text(errors="replace")
            time.sleep(0.5)
        query = (
            f'{{ runOrError(runId: "{run.run_id}") {{ ... on Run {{ status }} }} '
            "workspaceOrError { ... on Workspace { locationEntries { name } } } "
            "assetNodes { assetKey { path } assetMaterializations(limit: 1) { runId } } }"
        )
        data = _graphql(port, query)
        tree = _descendants(process.pid)
    finally:
        tree |= _descendants(process.pid)
        process.send_signal(signal.SIGTERM)
        stop_sent = time.monotonic()
        try:
            code = process.wait(timeout=STOP_SECONDS + 20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
        while any(_alive(pid) for pid in tree) and time.monotonic() - stop_sent < STOP_SECONDS + 20:
            time.sleep(0.2)
        stopped_after = time.monotonic() - stop_sent
        left = sorted(pid for pid in tree if _alive(pid))
        for pid in left:  # never leave a process behind, even when the test fails
            os.kill(pid, signal.SIGKILL)

    assert data["runOrError"]["status"] == "SUCCESS"
    materialized = {
        "/".join(node["assetKey"]["path"]): [m["runId"] for m in node["assetMaterializations"]]
        for node in data["assetNodes"]
    }
    assert {asset: materialized[asset] for asset in DEMO_ASSETS} == {
        asset: [run.run_id] for asset in DEMO_ASSETS
    }
    # One code location name everywhere: the UI shows [tool.dg.project]'s.
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    name = pyproject["tool"]["dg"]["project"].get("code_location_name", "jaffle")
    assert [entry["name"] for entry in data["workspaceOrError"]["locationEntries"]] == [name]

    output = log.read_text(errors="replace")
    assert f"the Dagster UI is at http://127.0.0.1:{port}" in output
    # Dagster's proxy server manager may see a code server that the group's SIGINT stopped
    # before the manager itself was told to stop (a race inside `dagster dev`, also on a
    # terminal's Ctrl-C): that one line says so and is no fault of the stop.
    raced = "Code server process has exited with code 0. Restarting the code server process."
    warnings = [
        line for line in output.splitlines() if "warn" in line.lower() and raced not in line
    ]
    assert not warnings, output
    assert len(tree) >= 4, f"webserver, daemon and code servers under floe dev: {tree}"
    assert code == 0, output
    assert left == [], f"still running {stopped_after:.1f} s after SIGTERM: {left}"
    assert stopped_after < STOP_SECONDS, output
    assert group_members(process.pid) == []
    # The stopped daemon's heartbeats are gone: a `floe dev` started again within a minute
    # would otherwise log "Another ... daemon is still sending heartbeats" errors.
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert dict(instance.get_daemon_heartbeats()) == {}


def test_the_generated_tests_record_in_the_project_instance(
    demo_project: Path, tmp_path: Path
) -> None:
    project = copy_project(demo_project, tmp_path)
    done = subprocess.run(
        [str(BIN / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=_env_without_home(project),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    import dagster as dg

    with dg.DagsterInstance.from_config(str(project / ".dagster_home")) as instance:
        runs = instance.get_runs()
        # two runs: the generated test runs the assets again to take the incremental path
        assert [run.status for run in runs] == [dg.DagsterRunStatus.SUCCESS] * 2
        event = instance.get_latest_materialization_event(dg.AssetKey("customers"))
        assert event is not None and event.run_id == runs[0].run_id


def test_a_selected_run_is_recorded_with_only_its_assets(
    demo_project: Path, tmp_path: Path
) -> None:
    project = copy_project(demo_project, tmp_path)
    done = subprocess.run(
        [str(BIN / "floe"), "run", "--select", "raw_customers stg_customers"],
        cwd=project,
        env=_env_without_home(project),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "not recorded" not in done.stderr
    import dagster as dg

    with dg.DagsterInstance.from_config(str(project / ".dagster_home")) as instance:
        (run,) = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.SUCCESS
        materialized = {
            asset
            for asset in DEMO_ASSETS
            if instance.get_latest_materialization_event(dg.AssetKey(asset)) is not None
        }
        assert materialized == {"raw_customers", "stg_customers"}
        # The UI shows a subset run against its job: both snapshots are there.
        assert run.job_snapshot_id is not None
        assert instance.get_job_snapshot(run.job_snapshot_id).lineage_snapshot is not None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_floe_dev_stops_with_dgs_report_when_the_component_yaml_is_invalid(
    demo_project: Path, tmp_path: Path
) -> None:
    """`dg check yaml` runs beside the UI: its report, exit 1, no UI announced, nothing left."""
    project = copy_project(demo_project, tmp_path)
    (defs,) = (project / "src").glob("*/defs/*/defs.yaml")
    text = defs.read_text(encoding="utf-8")
    defs.write_text(text.replace("  target: dev\n", "  target: dev\n  targett: x\n"), "utf-8")
    done = subprocess.run(
        [str(BIN / "floe"), "dev", "--port", str(_free_port())],
        cwd=project,
        env=_env_without_home(project),
        capture_output=True,
        text=True,
        check=False,
        timeout=UI_START_SECONDS,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "the project's component YAML does not validate" in done.stderr, output
    assert f"{defs}:8" in done.stderr, output  # dg's report: file and line ...
    assert "attributes.targett" in done.stderr, output  # ... and the attribute's path
    assert "the Dagster UI is at" not in output
    assert "Traceback" not in output
    assert processes_in(project.resolve()) == [], "floe dev left processes behind"


def test_a_new_instance_looks_at_its_run_queue_every_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs launched in the UI wait in Dagster's queue for the daemon's next look: every second
    in the project's instance (Dagster's default is 5 s); telemetry stays off."""
    import dagster as dg
    from dagster._core.run_coordinator import QueuedRunCoordinator

    from floe_scaffold.project._instance import instance_home

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    home = instance_home(tmp_path)
    assert home == tmp_path / ".dagster_home"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        coordinator = instance.run_coordinator
        assert isinstance(coordinator, QueuedRunCoordinator)
        assert coordinator.dequeue_interval_seconds == 1
        assert not instance.telemetry_enabled
