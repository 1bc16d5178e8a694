"""Never a stale manifest (issue 29): the demo project, real dbt, its definitions loaded in-process
as its own ``tests/test_definitions.py`` loads them (no ``DAGSTER_IS_DEV_CLI``: not ``dg``, not
``dagster dev``, not ``floe run``).

Reported after ``floe update`` of a project made by an earlier release: the update brought a new
model, ``dbt/target/manifest.json`` was the one the earlier release had parsed, nothing re-parsed
under ``pytest``, and the run met the new model in dbt's events: ``KeyError:
'model.proj.daily_orders'`` inside dagster-dbt. The record floe keeps beside the manifest, and
the rules for one it did not make, are in ``components/_manifest_stamp.py``; their unit tests in
``test_manifest_stamp.py``.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from floe_scaffold.components import expected_dbt_graphs
from floe_scaffold.components._manifest import ManifestError
from floe_scaffold.components._manifest_stamp import STAMP
from tests.project.conftest import BIN, copy_project, run_in

pytestmark = pytest.mark.slow

Load = Callable[[Path, str], Any]
WEEKLY = (
    "select date_trunc('week', order_date) as order_week, count(*) as orders\n"
    "from {{ ref('stg_orders') }}\ngroup by 1\n"
)


@pytest.fixture(autouse=True)
def _as_the_projects_own_pytest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a development command (an in-process `floe run` of another test may have set it)."""
    monkeypatch.delenv("DAGSTER_IS_DEV_CLI", raising=False)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _keys(defs: dg.Definitions) -> set[str]:
    return {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}


def _set_prepare(project: Path, mode: str) -> None:
    defs_yaml = project / "src/jaffle/defs/dbt_project/defs.yaml"
    config = yaml.safe_load(defs_yaml.read_text(encoding="utf-8"))
    config["attributes"]["prepare"] = mode
    defs_yaml.write_text(yaml.safe_dump(config), encoding="utf-8")


def test_a_model_added_by_an_update_is_parsed_and_runs(
    demo_project: Path, tmp_path: Path, loaded_definitions: Load
) -> None:
    """The reported case: a manifest parsed by an earlier release (which kept a bare digest
    beside it), then a model added without parsing, then the project's own test run."""
    project = copy_project(demo_project, tmp_path)
    target = project / "dbt" / "target"
    (target / STAMP).write_text(hashlib.sha256(b"earlier release").hexdigest(), encoding="utf-8")
    (project / "dbt/models/marts/weekly_orders.sql").write_text(WEEKLY, encoding="utf-8")

    defs = loaded_definitions(project, "jaffle")
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.DagsterInstance.ephemeral() as instance:
        # Before: KeyError: 'model.jaffle.weekly_orders' in dagster-dbt's event handling.
        result = job.execute_in_process(instance=instance, raise_on_error=True)
    assert result.success
    built = {
        event.asset_key.to_user_string() for event in result.get_asset_materialization_events()
    }
    assert "weekly_orders" in built
    assert "weekly_orders" in _keys(defs)


def test_the_projects_own_pytest_passes_after_an_update_added_a_model(
    demo_project: Path, tmp_path: Path
) -> None:
    """The same, literally: the generated `tests/`, run by pytest in the project."""
    project = copy_project(demo_project, tmp_path)
    (project / "dbt/target" / STAMP).write_text("0" * 64, encoding="utf-8")  # an earlier release's
    (project / "dbt/models/marts/weekly_orders.sql").write_text(WEEKLY, encoding="utf-8")
    done = run_in(
        project,
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests",
    )
    failed = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    assert done.returncode == 0, failed or done.stdout[-3000:] + done.stderr[-3000:]
    assert "KeyError" not in done.stdout + done.stderr


def test_a_renamed_model_is_loaded_under_its_new_name(
    demo_project: Path, tmp_path: Path, loaded_definitions: Load
) -> None:
    """A manifest floe parsed itself (its record beside it), then a model renamed."""
    project = copy_project(demo_project, tmp_path)
    models = project / "dbt/models/marts"
    (models / "daily_orders.sql").rename(models / "orders_by_day.sql")
    defs = loaded_definitions(project, "jaffle")
    keys = _keys(defs)
    assert "orders_by_day" in keys
    assert "daily_orders" not in keys
    # The project's own graph test reads the manifest with `prepare: never`: current now.
    graphs = expected_dbt_graphs(defs, project)
    assert any(key.to_user_string() == "orders_by_day" for key in graphs[0].assets.values())


def test_prepare_never_refuses_a_stale_manifest_in_one_line(
    demo_project: Path, tmp_path: Path, loaded_definitions: Load
) -> None:
    project = copy_project(demo_project, tmp_path)
    _set_prepare(project, "never")
    manifest = project / "dbt/target/manifest.json"
    before = _sha256(manifest)
    (project / "dbt/models/marts/weekly_orders.sql").write_text(WEEKLY, encoding="utf-8")

    with pytest.raises(Exception) as raised:  # Dagster wraps the component's error
        loaded_definitions(project, "jaffle")
    error: BaseException | None = raised.value
    while error is not None and not isinstance(error, ManifestError):
        error = error.__cause__ or error.__context__
    assert isinstance(error, ManifestError), raised.value
    message = str(error)
    assert "\n" not in message, "one line"
    assert message.startswith(f"the dbt manifest {manifest} is out of date (")
    assert f"{project}/dbt/models/marts/weekly_orders.sql was added since it was parsed" in message
    assert f"parse --project-dir {project}/dbt --profiles-dir {project}/.floe/profiles" in message
    assert _sha256(manifest) == before, "never parses"

    done = run_in(project, str(BIN / "dg"), "check", "defs")
    assert done.returncode != 0
    assert message in done.stdout + done.stderr
    assert "KeyError" not in done.stdout + done.stderr


def test_a_manifest_made_by_plain_dbt_is_used_then_followed(
    demo_project: Path, tmp_path: Path, loaded_definitions: Load
) -> None:
    """CI or a user ran `dbt parse` themselves (no record): newer than every file, it is used
    as it is and adopted; a model added after it is then parsed."""
    project = copy_project(demo_project, tmp_path)
    dbt = project / "dbt"
    shutil.rmtree(dbt / "target")
    done = run_in(
        dbt,
        str(BIN / "dbt"),
        "--no-send-anonymous-usage-stats",
        "parse",
        "--profiles-dir",
        str(project / ".floe/profiles"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    manifest = dbt / "target/manifest.json"
    made_by_dbt = _sha256(manifest)
    assert "customers" in _keys(loaded_definitions(project, "jaffle"))
    assert _sha256(manifest) == made_by_dbt, "not parsed again"
    assert (dbt / "target" / STAMP).is_file(), "adopted"

    (dbt / "models/marts/weekly_orders.sql").write_text(WEEKLY, encoding="utf-8")
    assert "weekly_orders" in _keys(loaded_definitions(project, "jaffle"))
    assert _sha256(manifest) != made_by_dbt
