"""`floe run`'s closing summary (issue 28): every asset the run materialized, dbt's or not, no
row for a node that is no asset, and the sources' freshness by severity; a source past
``error_after`` fails the run only when ``freshness.fail_run_on_error`` asks for it.

Real dbt on DuckDB, real Dagster: the demo project with the starter's source given an
``error_after`` its data (orders ending in 2024) is older than, an exposure, and a Python asset
in ``defs/`` downstream of a dbt model.
"""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest
import yaml

from floe_scaffold.components._freshness import FreshnessSettings
from tests.project.conftest import BIN, DEMO_ASSETS, copy_project, run_in

SOURCES = Path("dbt/models/staging/_sources.yml")
MARTS = Path("dbt/models/marts/_marts.yml")

CUSTOM_ASSET = '''import dagster as dg


@dg.asset(deps=["customers"])
def customer_report() -> dg.MaterializeResult:
    """Not dbt's: a Python asset beside the dbt project."""
    return dg.MaterializeResult(metadata={"dagster/row_count": 3})
'''


def _table_rows(stdout: str) -> dict[str, list[str]]:
    """The summary table's rows: asset -> [status, duration, rows]."""
    rows = {}
    for line in stdout.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if len(cells) == 4 and cells[0] != "asset":
            rows[cells[0]] = cells[1:]
    return rows


def _stale_project(demo_project: Path, tmp_path: Path) -> Path:
    project = copy_project(demo_project, tmp_path)
    sources = yaml.safe_load((project / SOURCES).read_text(encoding="utf-8"))
    (table,) = sources["sources"][0]["tables"]
    table["config"]["freshness"]["error_after"] = {"count": 2, "period": "day"}
    (project / SOURCES).write_text(yaml.safe_dump(sources, sort_keys=False), encoding="utf-8")
    marts = yaml.safe_load((project / MARTS).read_text(encoding="utf-8"))
    marts["exposures"] = [
        {
            "name": "weekly_dashboard",
            "type": "dashboard",
            "owner": {"name": "Analytics", "email": "analytics@example.com"},
            "depends_on": ["ref('customers')"],
        }
    ]
    (project / MARTS).write_text(yaml.safe_dump(marts, sort_keys=False), encoding="utf-8")
    (defs_dir,) = (project / "src").glob("*/defs")
    (defs_dir / "reports.py").write_text(CUSTOM_ASSET, encoding="utf-8")
    return project


@pytest.mark.slow
def test_the_summary_names_stale_sources_and_every_asset_and_fails_only_when_asked(
    demo_project: Path, tmp_path: Path
) -> None:
    project = _stale_project(demo_project, tmp_path)
    done = run_in(project, str(BIN / "floe"), "run")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    out = done.stdout
    rows = _table_rows(out)
    # every dbt asset, the Python asset with its own row count, and no exposure row
    assert set(rows) == {*DEMO_ASSETS, "customer_report"}, out
    assert rows["customer_report"][0] == "success"
    assert rows["customer_report"][2] == "3"
    assert "NO-OP exposure weekly_dashboard" in out  # dbt ran it; it is no asset
    assert not [name for name in rows if "weekly_dashboard" in name]
    assert list(rows).index("customer_report") > list(rows).index("customers")
    # the stale source, after the table: counts by severity, then the source, its age, its limit
    summary = out[out.index("source freshness:") :]
    assert summary.startswith("source freshness: 1 error, 0 warn\n"), summary
    assert "  error  shop.raw_orders: newest row " in summary
    assert " days old (error_after 2 days)" in summary
    assert "fail_run_on_error: true" in summary  # how to make it fail the run

    (defs,) = (project / "src").glob("*/defs/*/defs.yaml")
    defs.write_text(
        defs.read_text(encoding="utf-8") + "  freshness:\n    fail_run_on_error: true\n",
        encoding="utf-8",
    )
    failed = run_in(project, str(BIN / "floe"), "run")
    assert failed.returncode == 1, failed.stdout[-4000:] + failed.stderr[-4000:]
    assert "source freshness: 1 error, 0 warn" in failed.stdout
    assert set(_table_rows(failed.stdout)) == {*DEMO_ASSETS, "customer_report"}
    error = failed.stderr[failed.stderr.index("error: ") :]
    assert error.startswith(
        "error: the run failed: 1 dbt source is older than error_after: shop.raw_orders "
    ), error
    where = defs.relative_to(project)
    assert f"freshness.fail_run_on_error is true in {where}" in error
    assert "models/staging/_sources.yml" in error
    assert "set fail_run_on_error: false" in error
    assert "Traceback" not in failed.stdout + failed.stderr


def test_the_freshness_setting_is_checked_and_frozen() -> None:
    assert FreshnessSettings().fail_run_on_error is False
    with pytest.raises(pydantic.ValidationError, match="fail_on_error"):
        FreshnessSettings.model_validate({"fail_on_error": True})
    settings = FreshnessSettings(fail_run_on_error=True)
    with pytest.raises(pydantic.ValidationError):
        settings.fail_run_on_error = False  # type: ignore[misc]
