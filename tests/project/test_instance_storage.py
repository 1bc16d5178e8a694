"""The project's event log storage: Dagster's SQLite files, kept open, and still live for the UI.

``floe_scaffold.instance_storage.SqliteEventLogStorage`` is what a new ``.dagster_home`` names.
These tests hold it to what the swap promises: an instance opens with it from a path (no
``DAGSTER_HOME``), Dagster's own storage reads what it wrote and the other way round, a reader in
another process is woken for each burst of events (the UI follows a run by watching the run's
file, which only a checkpoint writes), and a long-lived writer keeps a bounded number of files
open.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    SqliteEventLogStorage as DagsterSqliteEventLogStorage,
)

from floe_scaffold.instance_storage import OPEN_SHARDS, SqliteEventLogStorage
from floe_scaffold.project._instance import INSTANCE_CONFIG, instance_home

_DEFAULT_CONFIG = "telemetry:\n  enabled: false\n"


@dg.asset
def numbers() -> int:
    return 3


@dg.asset
def doubled(numbers: int) -> int:
    return numbers * 2


def _home(where: Path, config: str) -> Path:
    where.mkdir(parents=True)
    (where / "dagster.yaml").write_text(config, encoding="utf-8")
    return where


def _materialization(run_id: str, index: int) -> EventLogEntry:
    event = DagsterEvent(
        event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
        job_name="job",
        event_specific_data=StepMaterializationData(
            dg.AssetMaterialization(dg.AssetKey(f"model_{index}"), metadata={"index": index})
        ),
    )
    return EventLogEntry(  # type: ignore[no-untyped-call]
        error_info=None,
        level=20,
        user_message="",
        run_id=run_id,
        timestamp=time.time(),
        step_key="step",
        job_name="job",
        dagster_event=event,
    )


def test_a_new_instance_uses_it_from_a_path_without_dagster_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    home = instance_home(tmp_path)
    assert (home / "dagster.yaml").read_text(encoding="utf-8") == INSTANCE_CONFIG
    with dg.DagsterInstance.from_config(str(home)) as instance:
        storage = instance.event_log_storage
        assert type(storage) is SqliteEventLogStorage
        result = dg.materialize([numbers, doubled], instance=instance)
        assert result.success
    # Where Dagster's default storage keeps event logs: the run's own file and the index.
    files = sorted(path.name for path in (home / "history" / "runs").glob("*.db"))
    assert files == sorted([f"{result.run_id}.db", "index.db"])


def test_dagster_default_storage_and_this_one_read_each_others_events(tmp_path: Path) -> None:
    home = _home(tmp_path / "home", _DEFAULT_CONFIG)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.event_log_storage) is DagsterSqliteEventLogStorage
        before = dg.materialize([numbers, doubled], instance=instance).run_id
    (home / "dagster.yaml").write_text(INSTANCE_CONFIG, encoding="utf-8")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.event_log_storage) is SqliteEventLogStorage
        earlier = instance.get_latest_materialization_event(dg.AssetKey("doubled"))
        assert earlier is not None and earlier.run_id == before
        after = dg.materialize([numbers, doubled], instance=instance).run_id
    (home / "dagster.yaml").write_text(_DEFAULT_CONFIG, encoding="utf-8")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.event_log_storage) is DagsterSqliteEventLogStorage
        latest = instance.get_latest_materialization_event(dg.AssetKey("doubled"))
        assert latest is not None and latest.run_id == after
        runs = {record.dagster_run.run_id for record in instance.get_run_records()}
        assert runs == {before, after}
        types = [
            record.event_log_entry.dagster_event_type
            for record in instance.get_records_for_run(after).records
        ]
        assert types.count(DagsterEventType.ASSET_MATERIALIZATION) == 2
        assert types[-1] == DagsterEventType.RUN_SUCCESS


_WRITER = """
import sys, time
sys.path.insert(0, sys.argv[3])
from tests.project.test_instance_storage import _materialization
from floe_scaffold.instance_storage import SqliteEventLogStorage
storage = SqliteEventLogStorage(sys.argv[1])
for burst in range(3):
    for index in range(int(sys.argv[2])):
        storage.store_event(_materialization("the-run", burst * 1000 + index))
    time.sleep(1.5)  # the process stays alive, its connections open: no close checkpoints
print("written", flush=True)
time.sleep(30)
"""


def test_a_watcher_in_another_process_sees_every_burst_while_the_writer_stays_open(
    tmp_path: Path,
) -> None:
    """The UI's watch: Dagster's storage in the webserver, ours in the run worker."""
    base = tmp_path / "runs"
    base.mkdir()
    seen: list[Any] = []
    arrived = threading.Event()
    per_burst = 40

    def callback(entry: Any, cursor: str) -> None:  # noqa: ARG001
        seen.append(entry)
        if len(seen) == 3 * per_burst:
            arrived.set()

    reader = DagsterSqliteEventLogStorage(str(base))
    reader.watch("the-run", None, callback)
    root = Path(__file__).resolve().parents[2]
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(base), str(per_burst), str(root)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "written"
        # Every event of all three bursts, while the writer still holds its connections.
        assert arrived.wait(timeout=10), f"the watcher saw {len(seen)} of {3 * per_burst}"
        assert writer.poll() is None
        assert [entry.dagster_event.asset_key.path[0] for entry in seen[-2:]] == [
            f"model_{2000 + per_burst - 2}",
            f"model_{2000 + per_burst - 1}",
        ]
    finally:
        writer.kill()
        writer.wait()
        if writer.stdout is not None:
            writer.stdout.close()
        reader.dispose()


def test_a_long_lived_writer_keeps_a_bounded_number_of_files_open(tmp_path: Path) -> None:
    storage = SqliteEventLogStorage(str(tmp_path))
    try:
        runs = [f"run-{index}" for index in range(OPEN_SHARDS + 5)]
        for run_id in runs:
            storage.store_event(_materialization(run_id, 0))
        assert len(storage._engines) <= OPEN_SHARDS
        for run_id in runs:
            assert len(storage.get_records_for_run(run_id).records) == 1
        assert len(storage.get_records_for_run("run-0").records) == 1
    finally:
        storage.dispose()
    logs = [path for path in tmp_path.iterdir() if path.name.endswith("-wal")]
    assert not [path for path in logs if path.stat().st_size], "every log is checkpointed"


def test_tables_found_are_remembered_and_missing_ones_asked_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    original = DagsterSqliteEventLogStorage.has_table

    def counting(self: Any, table_name: str) -> bool:
        asked.append(table_name)
        return original(self, table_name)

    monkeypatch.setattr(DagsterSqliteEventLogStorage, "has_table", counting)
    storage = SqliteEventLogStorage(str(tmp_path))
    try:
        assert all(storage.has_table("asset_check_executions") for _ in range(5))
        assert not storage.has_table("floe_probe")
        with storage.index_connection() as connection:
            connection.exec_driver_sql("CREATE TABLE floe_probe (n INTEGER)")
        assert storage.has_table("floe_probe")
        assert storage.has_table("floe_probe")
    finally:
        storage.dispose()
    assert asked == ["asset_check_executions", "floe_probe", "floe_probe"]


def test_a_dagster_yaml_floe_wrote_is_brought_up_to_date_and_an_edited_one_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    for earlier in (
        INSTANCE_CONFIG.split("# A run launched in the UI")[0],
        INSTANCE_CONFIG.split("# Dagster's SQLite event log")[0],
    ):
        assert earlier.endswith("\n") and len(earlier) < len(INSTANCE_CONFIG)
        root = tmp_path / str(len(earlier))
        _home(root / ".dagster_home", earlier)
        assert (instance_home(root) / "dagster.yaml").read_text("utf-8") == INSTANCE_CONFIG
    edited = INSTANCE_CONFIG.split("# Dagster's SQLite event log")[0] + "# my own line\n"
    _home(tmp_path / "mine" / ".dagster_home", edited)
    assert (instance_home(tmp_path / "mine") / "dagster.yaml").read_text("utf-8") == edited
