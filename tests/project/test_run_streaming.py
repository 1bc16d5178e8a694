"""A run's events reach the instance as dbt reports them, and Ctrl-C stops every phase of it.

Each runs the real CLI on the demo project with one model added: a model that sleeps (a
dbt-duckdb Python model, or ``pg_sleep`` on a real PostgreSQL server: dbt is still running while
it does), or a view whose count never ends (the table metadata round after dbt is still asking
while the test presses Ctrl-C).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

from floe_scaffold.errors import EXIT_INTERRUPTED
from tests.postgres import PostgresInfo
from tests.profiles.conftest import postgres_server
from tests.project.conftest import BIN, copy_project, postgres_demo, processes_in, quiet_env

pytestmark = pytest.mark.slow
__all__ = ["postgres_server"]  # the session fixture, shared with tests/profiles

#: A model that keeps dbt busy for a while after the seeds are built.
_SLEEPER = """\
import time


def model(dbt, session):
    dbt.config(materialized="table")
    dbt.ref("customers")
    time.sleep({seconds})
    return session.sql("select 1 as id")
"""
#: A view over 10^12 rows: created at once, counted never.
_ENDLESS = (
    "{{ config(materialized='view') }}\n"
    "select a.range as id from range(1000000) as a, range(1000000) as b\n"
)


def _set_table_metadata(project: Path, settings: dict[str, object]) -> None:
    defs_yaml = project / "src" / project.name / "defs" / "dbt_project" / "defs.yaml"
    loaded = yaml.safe_load(defs_yaml.read_text(encoding="utf-8"))
    loaded["attributes"]["table_metadata"] = settings
    defs_yaml.write_text(yaml.safe_dump(loaded, sort_keys=False), encoding="utf-8")


class _Lines:
    """The lines a process prints, each with the time it was read, collected by a thread."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.seen: list[tuple[float, str]] = []
        self._process = process
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self.seen.append((time.monotonic(), line))

    def first(self, text: str) -> float | None:
        return next((when for when, line in self.seen if text in line), None)

    def text(self) -> str:
        self._thread.join(timeout=30)
        return "".join(line for _, line in self.seen)


def _materialized_at(home: Path, asset: str, process: subprocess.Popen[str]) -> float | None:
    """When ``asset``'s first materialization is in the instance at ``home`` (polled).

    The SQLite files are read as they are, read-only: opening a Dagster instance here while
    ``floe run`` creates it would race it to create the schema.
    """
    while process.poll() is None:
        for database in sorted((home / "history" / "runs").glob("*.db")):
            try:
                with contextlib.closing(
                    sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1)
                ) as connection:
                    (found,) = connection.execute(
                        "select count(*) from event_logs where dagster_event_type = "
                        "'ASSET_MATERIALIZATION' and asset_key = ?",
                        (json.dumps([asset]),),
                    ).fetchone()
            except sqlite3.Error:  # not yet made, or being written: asked again
                continue
            if found:
                return time.monotonic()
        time.sleep(0.2)
    return None


def _stored_before_dbt_ends(
    project: Path, env: dict[str, str] | None = None, asset: str = "raw_customers"
) -> None:
    """Run ``floe run``; ``asset``'s materialization is in the project's instance before the
    sleeping model, dbt's last node to finish, has finished."""
    with subprocess.Popen(
        [str(BIN / "floe"), "run"],
        cwd=project,
        env=quiet_env(**(env or {})),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        lines = _Lines(process)
        stored = _materialized_at(project / ".dagster_home", asset, process)
        code = process.wait(timeout=600)
    output = lines.text()
    assert code == 0, output
    sleeper_done = next(
        (when for when, line in lines.seen if "OK created" in line and "zz_sleeper" in line), None
    )
    assert stored is not None and sleeper_done is not None, output
    assert stored < sleeper_done, (stored, sleeper_done, output)


@pytest.mark.requirement("FR-009")
def test_materializations_are_stored_while_dbt_is_still_running(
    demo_project: Path, tmp_path: Path
) -> None:
    project = copy_project(demo_project, tmp_path)
    (project / "dbt" / "models" / "zz_sleeper.py").write_text(
        _SLEEPER.format(seconds=15), encoding="utf-8"
    )
    _stored_before_dbt_ends(project)


@pytest.mark.requirement("FR-009")
def test_materializations_are_stored_while_dbt_is_still_running_on_postgres(
    postgres_server: PostgresInfo, tmp_path: Path
) -> None:
    project, env = postgres_demo(postgres_server, tmp_path, "streaming")
    (project / "dbt" / "models" / "zz_sleeper.sql").write_text(
        "{{ config(materialized='table') }}\n"
        "select 1 as id from (select pg_sleep(15)) as sleeping\n",
        encoding="utf-8",
    )
    _stored_before_dbt_ends(project, env)


def test_ctrl_c_during_the_table_metadata_round_stops_the_run(
    demo_project: Path, tmp_path: Path
) -> None:
    project = copy_project(demo_project, tmp_path)
    (project / "dbt" / "models" / "zz_endless.sql").write_text(_ENDLESS, encoding="utf-8")
    _set_table_metadata(project, {"count_views": True, "budget_seconds": 600})
    with subprocess.Popen(
        [str(BIN / "floe"), "run"],
        cwd=project,
        env=quiet_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as process:
        lines = _Lines(process)
        deadline = time.monotonic() + 300
        while lines.first("Done. PASS=") is None and time.monotonic() < deadline:
            assert process.poll() is None, lines.text()
            time.sleep(0.1)
        assert lines.first("Done. PASS=") is not None, "dbt finished"
        time.sleep(3)  # the round has begun: the endless view is being counted
        assert process.poll() is None, "still counting (the budget is 600 s)"
        pressed = time.monotonic()
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group
        code = process.wait(timeout=120)
        stopped = time.monotonic() - pressed
    output = lines.text()
    assert code == EXIT_INTERRUPTED, output
    assert stopped < 30, f"the count was cancelled, not waited for ({stopped:.1f} s)"
    assert "interrupted" in output.strip().splitlines()[-1], output
    assert "Traceback" not in output and "Exception ignored" not in output, output
    assert processes_in(project / "dbt") == [], "nothing left running"
    assert processes_in(project) == [], "nothing left running"
