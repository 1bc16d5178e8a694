"""dbt source freshness as asset checks (issue 17 item 5), on a real DuckDB through dbt's adapter,
and the starter's incremental model taking its incremental path on a second run."""

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from floe_scaffold.components._freshness import (
    CHECK_NAME,
    FreshnessSource,
    evaluate,
    freshness_check_specs,
    freshness_sources,
    human_duration,
    judge,
)
from floe_scaffold.components._source_assets import source_asset_specs
from floe_scaffold.components._table_metadata import TableMetadataSource, _release, load_adapter
from tests.helpers import count_queries
from tests.project.conftest import BIN, duckdb_dbt_project, run_in

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def _source(warn: float | None, error: float | None, **extra: str) -> FreshnessSource:
    return FreshnessSource(
        unique_id="source.p.shop.orders",
        asset_key=dg.AssetKey(["shop", "orders"]),
        relation_name=extra.get("relation", '"w"."main"."orders"'),
        loaded_at_field=extra.get("field", "loaded_at"),
        warn_after=warn,
        error_after=error,
        filter=extra.get("filter"),
    )


_THRESHOLDS = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {
            "count": st.integers(min_value=1, max_value=2000),
            "period": st.sampled_from(["minute", "hour", "day"]),
        }
    ),
)


def _ages(thresholds: list[dict[str, Any]]) -> st.SearchStrategy[int]:
    """Any age, or one a second either side of a threshold, or exactly on it."""
    edges = [int(timedelta(**{f"{t['period']}s": t["count"]}).total_seconds()) for t in thresholds]
    near = st.sampled_from(edges).flatmap(lambda edge: st.sampled_from([edge - 1, edge, edge + 1]))
    return st.one_of(st.integers(min_value=0, max_value=2001 * 86400), near)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(warn=_THRESHOLDS, error=_THRESHOLDS, data=st.data())
def test_the_age_is_judged_as_dbt_judges_it(
    warn: dict[str, Any] | None, error: dict[str, Any] | None, data: st.DataObject
) -> None:
    """The oracle is dbt's own threshold code (``FreshnessThreshold.status``), given the
    manifest's thresholds as dbt reads them; ages on and around each threshold included."""
    from dbt.artifacts.resources.v1.components import FreshnessThreshold
    from dbt.artifacts.schemas.results import FreshnessStatus

    if warn is None and error is None:
        return  # no threshold: not a check at all (the manifest test below)
    age = data.draw(_ages([t for t in (warn, error) if t]), label="age")
    manifest = {
        "nodes": {},
        "sources": {
            "source.p.shop.orders": {
                "relation_name": '"w"."main"."orders"',
                "loaded_at_field": "loaded_at",
                "freshness": {"warn_after": warn, "error_after": error},
            }
        },
    }
    (source,) = freshness_sources(manifest, lambda _node: dg.AssetKey(["shop", "orders"]))
    result = judge(source, NOW - timedelta(seconds=age), NOW)
    # dbt reads the manifest's thresholds with its own deserializer, then judges the age.
    dbt_says = FreshnessThreshold.from_dict({"warn_after": warn, "error_after": error}).status(age)
    failed = {
        FreshnessStatus.Error: dg.AssetCheckSeverity.ERROR,
        FreshnessStatus.Warn: dg.AssetCheckSeverity.WARN,
    }
    assert result.passed is (dbt_says == FreshnessStatus.Pass)
    if not result.passed:  # a passing check's severity means nothing
        assert result.severity == failed[dbt_says]
    assert _meta(result, "age_seconds") == age


def test_manifest_sources_become_checks_downstream_of_their_seed() -> None:
    manifest = {
        "metadata": {"adapter_type": "duckdb"},  # identifiers compared without regard to case
        "nodes": {
            "seed.p.raw": {
                "resource_type": "seed",
                "name": "raw",
                "relation_name": '"w"."main"."raw"',
            },
        },
        "sources": {
            "source.p.shop.raw": {
                "relation_name": '"W"."main"."raw"',
                "config": {
                    "loaded_at_field": "ts",
                    "freshness": {"warn_after": {"count": 2, "period": "hour"}, "filter": "ts > 0"},
                },
            },
            "source.p.shop.nofresh": {"relation_name": '"w"."main"."x"', "config": {}},
            "source.p.shop.nulls": {
                "relation_name": '"w"."main"."y"',
                "loaded_at_field": "ts",
                "freshness": {"warn_after": None, "error_after": {"count": None, "period": None}},
            },
        },
    }
    keys = {"seed.p.raw": ["raw"], "source.p.shop.raw": ["shop", "raw"]}
    found = freshness_sources(manifest, lambda node: dg.AssetKey(keys[_id(manifest, node)]))
    assert [(s.unique_id, s.warn_after, s.error_after, s.filter) for s in found] == [
        ("source.p.shop.raw", 7200.0, None, "ts > 0")
    ]
    assert found[0].loaded_by == (dg.AssetKey("raw"),)
    checks = freshness_check_specs(found)
    assert [(c.key.name, c.asset_key) for c in checks] == [
        (CHECK_NAME, dg.AssetKey(["shop", "raw"]))
    ]
    (spec,) = source_asset_specs(
        manifest,
        lambda node: dg.AssetKey(keys[_id(manifest, node)]),
        {one.unique_id for one in found},
    )
    assert spec.key == dg.AssetKey(["shop", "raw"])
    assert [dep.asset_key for dep in spec.deps] == [dg.AssetKey("raw")]


def _id(manifest: dict[str, Any], node: object) -> str:
    return str(
        next(k for group in ("nodes", "sources") for k, v in manifest[group].items() if v is node)
    )


def _meta(result: dg.AssetCheckResult, name: str) -> Any:
    """A metadata value of a check result, unwrapped."""
    return result.metadata[name].value


def test_freshness_is_asked_of_the_warehouse_in_one_round(tmp_path: Path) -> None:
    """A fresh, a stale (error), a filtered and an empty source; a bad expression reports why."""
    project = duckdb_dbt_project(tmp_path, "f")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with duckdb.connect(str(project / "w.db")) as connection:
        connection.execute("create table events (loaded_at timestamp, kind varchar)")
        connection.execute(
            "insert into events values (?, 'new'), (?, 'old')", [now, now - timedelta(days=9)]
        )
        connection.execute("create table empty_one (day date)")
    sources = [
        _source(3600, 86400, relation='"w"."main"."events"'),
        _source(3600, 86400, relation='"w"."main"."events"', filter="kind = 'old'"),
        _source(None, 60, relation='"w"."main"."empty_one"', field="day"),
    ]
    adapter = load_adapter(TableMetadataSource(project, project, None, None))
    queries = count_queries(adapter)
    try:
        with adapter.connection_named("test"):
            fresh, stale, empty = evaluate(adapter, sources, datetime.now(timezone.utc))
            assert len(queries) == 1, "one round for the three sources (README)"
            (broken,) = evaluate(
                adapter, [_source(1, None, field="no_such_column")], datetime.now(timezone.utc)
            )
            queries.clear()
            many = evaluate(adapter, sources[:1] * 201, datetime.now(timezone.utc))
            assert len(queries) == 2, "one round per 200 sources"
            assert len(many) == 201 and all(result.passed for result in many)
    finally:
        _release(adapter)
    assert fresh.passed and _meta(fresh, "age_seconds") < 600
    assert (stale.passed, stale.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert _meta(stale, "age").startswith("9 days")
    assert (empty.passed, empty.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert "no rows" in _meta(empty, "problem")
    assert not broken.passed and "no_such_column" in _meta(broken, "problem")


@pytest.mark.slow
def test_the_incremental_model_adds_only_new_days(tmp_path: Path) -> None:
    """Run twice with a past day deleted between the runs: the incremental path (only days after
    the newest held) leaves it out, a full rebuild would have put it back; no day is doubled."""
    from floe_scaffold.project import init_project

    project = tmp_path / "jaffle"
    init_project(project)
    first = run_in(project, str(BIN / "floe"), "run")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "check warned     shop/raw_orders:source_freshness: newest row " in first.stdout
    database = project / "dbt" / "warehouse.duckdb"
    with duckdb.connect(str(database)) as connection:
        days = connection.execute("select count(*) from daily_orders").fetchone()
        connection.execute(
            "delete from daily_orders where order_date = (select min(order_date) from daily_orders)"
        )
    again = run_in(project, str(BIN / "floe"), "run")
    assert again.returncode == 0, again.stdout + again.stderr
    with duckdb.connect(str(database)) as connection:
        after = connection.execute(
            "select count(*), count(distinct order_date) from daily_orders"
        ).fetchone()
    assert days is not None and after == (days[0] - 1, days[0] - 1)


def _compute(context: dg.AssetExecutionContext) -> Any:
    del context  # nothing runs: only the specs are compared
    yield from ()


def test_the_checks_are_cached_with_dbts_and_the_source_sits_below_its_seed(
    demo_project: Path, tmp_path: Path
) -> None:
    """The demo's source check is declared on the dbt multi-asset, the same from a cold and a
    warm spec cache, and its source asset is downstream of the seed and upstream of staging."""
    from dagster_dbt import DbtProject

    from floe_scaffold.components._assets import dbt_multi_asset
    from floe_scaffold.components._lazy_manifest import ManifestSource
    from floe_scaffold.components._translator import FloeTranslator

    project_dir = demo_project / "dbt"
    manifest_path = project_dir / "target" / "manifest.json"
    translator = FloeTranslator()

    def build() -> Any:
        return dbt_multi_asset(
            _compute,
            manifest=ManifestSource(manifest_path),
            validate=lambda _parsed: None,
            project=DbtProject(project_dir=project_dir),
            select="fqn:*",
            exclude="",
            translator=translator,
            name="dbt_build",
            settings={"checks": [CHECK_NAME], "fresh_key": str(tmp_path)},
            extra_checks=lambda parsed: freshness_check_specs(
                freshness_sources(parsed, translator.get_asset_key)
            ),
            extra_specs=lambda parsed: source_asset_specs(
                parsed, translator.get_asset_key, {"source.jaffle.shop.raw_orders"}
            ),
        )

    cold, warm = build(), build()
    source = dg.AssetKey(["shop", "raw_orders"])
    for built in (cold, warm):
        (check,) = built.extra_checks
        assert (check.asset_key, check.name) == (source, CHECK_NAME)
        assert [dep.asset_key for dep in check.additional_deps] == [dg.AssetKey("raw_orders")]
        assert all(spec.name != CHECK_NAME for spec in built.assets.check_specs), "not dbt's"
    graph = dg.Definitions(assets=[warm.assets, *warm.extra_specs]).resolve_asset_graph()
    assert graph.get(source).parent_keys == {dg.AssetKey("raw_orders")}
    assert source in graph.get(dg.AssetKey("stg_orders")).parent_keys
    assert not graph.get(source).is_materializable


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (0, "0 s"),
        (119, "119 s"),
        (120, "2 min"),
        (7199, "119 min"),
        (7200, "2 h"),
        (86400, "24 h"),
        (172800, "2 days"),
        (91_324_800, "1,057 days"),
        (-5, "0 s"),
    ],
)
def test_ages_read_as_people_say_them(seconds: float, said: str) -> None:
    assert human_duration(seconds) == said


@pytest.mark.requirement("FR-009")
def test_the_freshness_check_runs_alone_without_dbt_and_after_a_run(
    demo_project: Path, tmp_path: Path, loaded_definitions: Any
) -> None:
    """As the UI's "Execute" on the check runs it: no dbt step, only the check's own step. Before
    the seeds are loaded it says why it cannot judge; after `floe run` it judges the age."""
    import shutil

    project = tmp_path / "jaffle"
    shutil.copytree(demo_project, project, ignore=shutil.ignore_patterns(".dagster_home"))
    (project / "dbt" / "warehouse.duckdb").unlink(missing_ok=True)
    defs = loaded_definitions(project, "jaffle")
    key = dg.AssetCheckKey(dg.AssetKey(["shop", "raw_orders"]), CHECK_NAME)
    job = defs.resolve_implicit_global_asset_job_def()
    alone = job.get_subset(asset_check_selection={key}, asset_selection=set())

    def execute() -> Any:
        with dg.DagsterInstance.ephemeral() as instance:
            result = alone.execute_in_process(instance=instance, raise_on_error=False)
        assert result.success
        steps = {event.step_key for event in result.all_events if event.step_key}
        assert steps == {"dbt_source_freshness"}, "dbt did not run"
        (evaluation,) = result.get_asset_check_evaluations()
        return evaluation

    unloaded = execute()
    assert not unloaded.passed and unloaded.severity == dg.AssetCheckSeverity.WARN
    assert "problem" in unloaded.metadata, unloaded.metadata
    done = run_in(project, str(BIN / "floe"), "run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "check warned     shop/raw_orders:source_freshness: newest row " in done.stdout
    judged = execute()
    assert (judged.passed, judged.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert judged.metadata["age_seconds"].value > 86400


def test_the_check_stays_a_check_through_a_components_metadata_update() -> None:
    """Dagster 1.11-1.13 rebuilt it as a plain AssetsDefinition, then warned while wrapping it
    back (``_dagster_workaround.keeping_checks_class``); the suite's warnings are errors."""
    from floe_scaffold.components._freshness import freshness_checks

    source = _source(3600.0, None)
    checks = freshness_checks(freshness_check_specs([source]), lambda: [source], lambda _: [])
    assert checks is not None
    defs = dg.Definitions(asset_checks=[checks]).with_definition_metadata_update(
        lambda metadata: {**metadata, "where": "defs.yaml"}
    )
    (updated,) = defs.asset_checks or []
    assert isinstance(updated, dg.AssetChecksDefinition)
    assert updated.check_specs_by_output_name.keys() == checks.check_specs_by_output_name.keys()
    assert [spec.metadata["where"] for spec in updated.check_specs] == ["defs.yaml"]
    assert dg.Definitions.merge(defs).resolve_asset_graph().asset_check_keys == {source.check_key}
