"""``floe run`` under a Ctrl-C and a held DuckDB lock, and sharing dbt's partial parse.

Each runs the real CLI on a copy of the demo project: a real SIGINT to a real run's process
group (what a terminal sends), a real second process holding the DuckDB file, a real plain
``dbt build`` beside ``floe run``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from floe_scaffold._dbt_defaults import without_defaults
from floe_scaffold._warm_dbt import WarmUp, real_dbt, start_warm_dbt
from floe_scaffold.components._dbt_step import DbtRunConfig, run_args
from floe_scaffold.errors import EXIT_INTERRUPTED
from floe_scaffold.project._credentials import profile_outputs
from floe_scaffold.project._locate import locate_project
from floe_scaffold.project._run import _warm_up
from floe_scaffold.project._run_options import RunOptions
from tests.project.conftest import BIN, copy_project, processes_in, quiet_env, run_in

pytestmark = pytest.mark.slow

_HOLD_LOCK = """\
import sys

import duckdb

connection = duckdb.connect(sys.argv[1])
print("locked", flush=True)
sys.stdin.read()
"""


def test_ctrl_c_stops_dbt_and_dagster_then_says_interrupted(
    demo_project: Path, tmp_path: Path
) -> None:
    project = copy_project(demo_project, tmp_path)
    with subprocess.Popen(
        [str(BIN / "floe"), "run"],
        cwd=project,
        env=quiet_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as process:
        assert process.stdout is not None
        seen = []
        for line in process.stdout:  # dbt is running its first nodes
            seen.append(line)
            if "START" in line:
                os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group
                break
        rest = process.stdout.read()
        code = process.wait(timeout=120)
    output = "".join(seen) + rest
    assert code == EXIT_INTERRUPTED, output
    assert "interrupted" in output.strip().splitlines()[-1], output
    assert "DagsterExecutionInterruptedError" not in output
    assert "Traceback" not in output and "Exception ignored" not in output, output
    assert processes_in(project / "dbt") == [], "dbt stopped before floe exited"
    import dagster as dg

    # ... and the run is recorded in the project's instance, as the UI will show it: canceled.
    with dg.DagsterInstance.from_config(str(project / ".dagster_home")) as instance:
        (run,) = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.CANCELED
    # ... and its lineage says so: the Dagster run's own events end with ABORT.
    log = (project / ".floe" / "lineage" / "events.jsonl").read_text(encoding="utf-8")
    events = [json.loads(line) for line in log.splitlines()]
    own = [e for e in events if e["run"]["runId"] == run.run_id]
    assert [e["eventType"] for e in own] == ["START", "ABORT"], [e["eventType"] for e in own]
    assert own[1]["run"]["facets"]["errorMessage"]["message"] == "the run was interrupted"


def test_a_database_locked_by_another_process_is_named_in_one_line(
    demo_project: Path, tmp_path: Path
) -> None:
    project = copy_project(demo_project, tmp_path)
    database = project / "dbt" / "warehouse.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(database)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        done = run_in(project, str(BIN / "floe"), "run")
    finally:
        holder.communicate("", timeout=60)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert f"{database} is locked by another process (PID {holder.pid}" in errors[0]
    assert max(len(line) for line in output.splitlines()) < 400, "no escaped one-line dump"
    assert "Traceback" not in output


def test_floe_run_and_a_plain_dbt_build_share_dbts_partial_parse(
    demo_project: Path, tmp_path: Path
) -> None:
    project = copy_project(demo_project, tmp_path)
    started = time.time()
    plain = run_in(
        project / "dbt",
        str(BIN / "dbt"),
        "build",
        "--profiles-dir",
        "../.floe/profiles",
        env={"DBT_USE_COLORS": "false"},
    )
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "Unable to do partial parsing" not in plain.stdout, "floe's parse was reused"
    done = run_in(project, str(BIN / "floe"), "run")
    assert done.returncode == 0, done.stdout + done.stderr
    logs = [
        path
        for path in (project / "dbt" / "target").glob("dbt_build-*/dbt.log")
        if path.stat().st_mtime >= started
    ]
    assert logs, "floe run wrote its dbt log"
    for log in logs:
        assert "UnableToPartialParse" not in log.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("profile", "target", "expected"),
    [
        ("floe", "dev", (None, None)),  # both the defaults: no flag
        (None, "dev", (None, None)),
        ("floe", "prod", (None, "prod")),  # another target: kept
        ("other", "dev", ("other", "dev")),  # another profile: its default target is unknown
        (None, None, (None, None)),
    ],
)
def test_profile_and_target_are_passed_only_when_not_the_defaults(
    tmp_path: Path,
    profile: str | None,
    target: str | None,
    expected: tuple[str | None, str | None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DBT_TARGET", raising=False)
    monkeypatch.delenv("DBT_PROFILE", raising=False)
    (tmp_path / "dbt_project.yml").write_text("name: p\nprofile: floe\n", encoding="utf-8")
    (tmp_path / "profiles.yml").write_text(
        "floe:\n  target: dev\n  outputs: {dev: {type: duckdb}, prod: {type: duckdb}}\n",
        encoding="utf-8",
    )
    assert without_defaults(tmp_path, tmp_path, profile, target) == expected


def test_flags_are_kept_when_the_environment_chooses_or_a_file_is_unreadable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DBT_PROFILE", raising=False)
    monkeypatch.delenv("DBT_TARGET", raising=False)
    assert without_defaults(tmp_path, tmp_path, "floe", "dev") == ("floe", "dev")  # no files
    (tmp_path / "dbt_project.yml").write_text("profile: floe\n", encoding="utf-8")
    (tmp_path / "profiles.yml").write_text(
        "floe:\n  target: \"{{ env_var('T') }}\"\n", encoding="utf-8"
    )
    assert without_defaults(tmp_path, tmp_path, "floe", "dev") == (None, "dev")
    monkeypatch.setenv("DBT_TARGET", "prod")  # dbt reads it as --target: a flag must win
    assert without_defaults(tmp_path, tmp_path, "floe", "dev") == ("floe", "dev")


def test_a_warm_dbt_serves_one_command_then_the_real_dbt_runs() -> None:
    warm = start_warm_dbt(real_dbt())
    assert warm is not None
    try:
        client = str(warm.client)
        served = subprocess.run(
            [client, "--help"], capture_output=True, text=True, check=False, timeout=300
        )
        assert served.returncode == 0, served.stderr
        assert "Usage: dbt" in served.stdout, "dbt's own output, through the same pipe"
        assert warm.process.wait(timeout=60) == 0, "the warm process served it and left"
        wrong = subprocess.run(
            [client, "no-such-command"], capture_output=True, text=True, check=False, timeout=300
        )
        real = subprocess.run(
            [real_dbt(), "no-such-command"], capture_output=True, text=True, check=False
        )
        assert wrong.returncode == real.returncode == 2, "the real dbt, with its exit code"
    finally:
        warm.close()
    assert not warm.folder.exists()


def test_an_unused_warm_dbt_is_stopped_and_removed() -> None:
    warm = start_warm_dbt(real_dbt())
    assert warm is not None
    warm.close()
    assert warm.process.returncode is not None
    assert not warm.folder.exists()


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder``: its size and modification time (ns)."""
    return {
        str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_a_warm_up_parses_the_project_and_leaves_every_file_as_it_was(
    demo_project: Path, tmp_path: Path
) -> None:
    """The warm dbt's `dbt parse` ran (outcome ok) and changed nothing in target/ or logs/."""
    project = copy_project(demo_project, tmp_path)
    dbt_dir = project / "dbt"
    assert (dbt_dir / "target" / "partial_parse.msgpack").is_file()
    before = _files(dbt_dir)
    warm = start_warm_dbt(real_dbt(), WarmUp(dbt_dir, project / ".floe" / "profiles", None, None))
    assert warm is not None
    try:
        # The warm process takes a command only after its warm-up: this one waits for it.
        served = subprocess.run(
            [str(warm.client), "--version"], capture_output=True, text=True, timeout=300
        )
        assert served.returncode == 0, served.stderr
        assert warm.warm_up_outcome() == "ok"
        assert not (warm.folder / "warm-up").exists(), "its scratch folder is removed"
    finally:
        warm.close()
    assert _files(dbt_dir) == before, "no file of the dbt project was written or added"


def test_a_warm_up_that_fails_still_serves_the_command(tmp_path: Path) -> None:
    warm = start_warm_dbt(real_dbt(), WarmUp(tmp_path / "no-project", tmp_path, None, None))
    assert warm is not None
    try:
        served = subprocess.run(
            [str(warm.client), "--version"], capture_output=True, text=True, timeout=300
        )
        assert served.returncode == 0, served.stderr
        assert "Core:" in served.stdout, "dbt's own output, through the same pipe"
        outcome = warm.warm_up_outcome()
        assert outcome is not None and outcome.startswith("failed"), outcome
        assert warm.process.wait(timeout=60) == 0
    finally:
        warm.close()


def test_the_warm_up_uses_the_flags_the_component_gives_dbt(
    demo_project: Path, tmp_path: Path
) -> None:
    """Defaults dropped as FloeDbtCliResource drops them; a target of the component's kept."""
    project = copy_project(demo_project, tmp_path)
    layout = locate_project(project)
    warm_up = _warm_up(profile_outputs(layout), RunOptions())
    assert warm_up == WarmUp(project / "dbt", project / ".floe" / "profiles", None, None)
    assert warm_up.argv() == [
        "parse",
        "--project-dir",
        str(project / "dbt"),
        "--profiles-dir",
        str(project / ".floe" / "profiles"),
    ]
    assert warm_up.partial_parse() == project / "dbt" / "target" / "partial_parse.msgpack"

    profiles = project / ".floe" / "profiles" / "profiles.yml"
    text = profiles.read_text(encoding="utf-8")
    profiles.write_text(text.replace("  target: dev\n", "  target: other\n", 1), "utf-8")
    warm_up = _warm_up(profile_outputs(layout), RunOptions())
    assert warm_up is not None
    assert warm_up.argv()[-2:] == ["--target", "dev"], "the component's target, not the default"

    # --vars of the component's command key dbt's partial parse too: the warm-up passes them
    (defs,) = (project / "src").glob("*/defs/*/defs.yaml")
    text = defs.read_text(encoding="utf-8")
    for given in (["--vars", "{day: 1}"], ["--vars={day: 1}"]):
        args = ", ".join(f"'{arg}'" for arg in ["build", *given, "--full-refresh"])
        defs.write_text(text.replace("attributes:\n", f"attributes:\n  cli_args: [{args}]\n"))
        warm_up = _warm_up(profile_outputs(layout), RunOptions())
        assert warm_up is not None
        assert warm_up.argv()[-4:] == ["--target", "dev", "--vars", "{day: 1}"], given
        # floe run --vars: the warm-up parses with the --vars the dbt step will give dbt
        warm_up = _warm_up(profile_outputs(layout), RunOptions(dbt_vars={"night": 2}))
        assert warm_up is not None
        step = run_args(["build", *given], DbtRunConfig(vars={"night": 2}))
        assert warm_up.argv()[-2:] == step[-2:] == ["--vars", '{"day": 1, "night": 2}'], given
