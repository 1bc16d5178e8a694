"""Loading at scale: the spec cache and the Dagster workarounds change nothing in the asset graph.

The reference is dagster-dbt's own ``@dbt_assets`` with Dagster's own (quadratic)
``input_names_by_node_key``; ours is the component's path cold (no cache entry: built, written)
and warm (read from the entry). "Identical" is the repository snapshot Dagster serves to its UI,
byte for byte: asset keys, parents, checks, groups, owners, tags, kinds, descriptions, code
versions and metadata.
"""

# No `from __future__ import annotations`: Dagster inspects the asset function's `context`.

import json
import pickle
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster_dbt import DbtProject, dbt_assets
from dagster_shared.serdes import serialize_value
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from floe_scaffold.components import _assets as assets_module
from floe_scaffold.components._assets import dbt_multi_asset, paused_gc, spec_cache_of
from floe_scaffold.components._dagster_workaround import (
    applies,
    install_workaround,
    without_workaround,
)
from floe_scaffold.components._lazy_manifest import ManifestChangedError, ManifestSource
from floe_scaffold.components._manifest import check_acyclic
from floe_scaffold.components._spec_cache import FORMAT, cache_key, load_specs
from floe_scaffold.components._translator import FloeTranslator
from tests.manifests import synthetic_manifest, write_manifest

_PII = {"classification": "pii", "pii_type": "id", "sensitivity": "high"}
#: contract classifications of a demo model and of a synthetic mart
CLASSIFIED = {"customers": {"customer_id": _PII}, "fct_domain0__0": {"id": _PII}}


def _compute(context: dg.AssetExecutionContext) -> Iterator[Any]:
    del context  # nothing runs: only the definitions are compared
    yield from ()


def _snapshot(assets: dg.AssetsDefinition) -> str:
    """What Dagster serves of these assets (the asset graph resolved, as the UI gets it)."""
    repository = dg.Definitions(assets=[assets]).get_repository_def()
    return serialize_value(RepositorySnap.from_def(repository))


def _dbt_project(where: Path, manifest: dict[str, Any] | None) -> tuple[DbtProject, Path]:
    if manifest is not None:
        where.mkdir(parents=True, exist_ok=True)
        (where / "dbt_project.yml").write_text(
            "name: synthetic\nversion: '1.0'\nprofile: synthetic\n", encoding="utf-8"
        )
        write_manifest(where, manifest)
    return DbtProject(project_dir=where), where / "target" / "manifest.json"


def _ours(
    project: DbtProject, manifest_path: Path, classifications: dict[str, Any], select: str = "fqn:*"
) -> dg.AssetsDefinition:
    return dbt_multi_asset(
        _compute,
        manifest=ManifestSource(manifest_path),
        validate=lambda parsed: check_acyclic(parsed, manifest_path),
        project=project,
        select=select,
        exclude="",
        translator=FloeTranslator(classifications),
        name="dbt_build",
        settings={"classifications": classifications},
    ).assets


def _reference(
    project: DbtProject, manifest_path: Path, classifications: dict[str, Any], select: str = "fqn:*"
) -> str:
    """dagster-dbt's @dbt_assets, resolved with Dagster's own property (no workaround)."""
    assert install_workaround(), "the workaround applies to the installed Dagster"
    with without_workaround():
        assets = dbt_assets(
            manifest=json.loads(manifest_path.read_bytes()),
            project=project,
            select=select,
            dagster_dbt_translator=FloeTranslator(classifications),
            name="dbt_build",
        )(_compute)
        return _snapshot(assets)


def _entries(project: DbtProject) -> list[Path]:
    return sorted(spec_cache_of(Path(project.project_dir)).folder.glob("*.json"))


def _same_cold_warm_and_reference(
    project: DbtProject, manifest_path: Path, classifications: dict[str, Any], select: str = "fqn:*"
) -> None:
    reference = _reference(project, manifest_path, classifications, select)
    for entry in _entries(project):
        entry.unlink()
    cold = _snapshot(_ours(project, manifest_path, classifications, select))
    (entry,) = _entries(project)
    written = entry.stat().st_mtime_ns
    warm = _snapshot(_ours(project, manifest_path, classifications, select))
    assert entry.stat().st_mtime_ns == written, "the warm load read the entry, wrote nothing"
    assert cold == reference
    assert warm == reference


def test_the_workaround_applies_to_the_installed_dagster_and_is_idempotent() -> None:
    assert applies()
    assert install_workaround()
    assert install_workaround()


def test_demo_graph_is_identical_cold_warm_and_without_the_workaround(demo_project: Path) -> None:
    project, manifest_path = _dbt_project(demo_project / "dbt", None)
    _same_cold_warm_and_reference(project, manifest_path, CLASSIFIED)
    # the check specs are there, with what the UI shows of them
    warm = _ours(project, manifest_path, CLASSIFIED)
    assert len(list(warm.check_specs)) == 15  # dbt's data tests
    customers = warm.specs_by_key[dg.AssetKey("customers")]
    assert customers.owners == ["team:analytics"]
    assert customers.group_name == "marts"
    assert "dagster/kind/duckdb" in customers.tags


def test_synthetic_graph_is_identical_cold_warm_and_without_the_workaround(tmp_path: Path) -> None:
    manifest = synthetic_manifest(300, seed=3)
    project, manifest_path = _dbt_project(tmp_path / "dbt", manifest)
    _same_cold_warm_and_reference(project, manifest_path, CLASSIFIED)
    graph = dg.Definitions(assets=[_ours(project, manifest_path, CLASSIFIED)]).resolve_asset_graph()
    sources = [key for key in graph.get_all_asset_keys() if not graph.get(key).is_materializable]
    assert sources, "source references are what the workaround speeds up"


@settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    models=st.integers(min_value=1, max_value=120),
    seed=st.integers(min_value=0, max_value=10_000),
    select=st.sampled_from(["fqn:*", "resource_type:model", "resource_type:seed+"]),
)
def test_any_manifest_and_selection_loads_the_same_from_the_cache(
    tmp_path_factory: pytest.TempPathFactory, models: int, seed: int, select: str
) -> None:
    where = tmp_path_factory.mktemp("synthetic") / "dbt"
    project, manifest_path = _dbt_project(where, synthetic_manifest(models, seed=seed))
    _same_cold_warm_and_reference(project, manifest_path, {}, select)


def _cached_project(tmp_path: Path) -> tuple[DbtProject, Path, str, Path]:
    project, manifest_path = _dbt_project(tmp_path / "dbt", synthetic_manifest(80, seed=5))
    expected = _snapshot(_ours(project, manifest_path, {}))
    (entry,) = _entries(project)
    return project, manifest_path, expected, entry


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[: len(text) // 2],  # truncated
        lambda _: "not json at all",
        lambda text: text.replace(json.dumps(FORMAT), '"floe-spec-cache/0"'),  # old format
        lambda text: text.replace('"group_name":', '"group":'),  # a field missing
        lambda text: text.replace('"value",', '"value",-'),  # an index out of range
        lambda _: "",
    ],
    ids=["truncated", "not-json", "other-format", "missing-field", "bad-index", "empty"],
)
def test_a_corrupt_entry_is_rebuilt_silently(tmp_path: Path, damage: Callable[[str], str]) -> None:
    project, manifest_path, expected, entry = _cached_project(tmp_path)
    entry.write_text(damage(entry.read_text(encoding="utf-8")), encoding="utf-8")
    assert _snapshot(_ours(project, manifest_path, {})) == expected
    (rewritten,) = _entries(project)
    assert rewritten == entry
    assert json.loads(entry.read_bytes())["format"] == FORMAT, "rewritten whole"


def test_a_changed_manifest_or_setting_is_another_key(tmp_path: Path) -> None:
    project, manifest_path, _, entry = _cached_project(tmp_path)
    manifest = json.loads(manifest_path.read_bytes())
    first = next(iter(manifest["nodes"].values()))
    first["description"] = "changed after the entry was written"
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    assets = _ours(project, manifest_path, {})
    spec = next(
        s for s in assets.specs if s.metadata["dagster_dbt/unique_id"] == first["unique_id"]
    )
    assert (spec.description or "").startswith("changed after the entry was written")
    assert len(_entries(project)) == 2, "a new entry beside the stale one"
    classified = _ours(project, manifest_path, CLASSIFIED)
    assert len(_entries(project)) == 3, "classifications are part of the key"
    mart = classified.specs_by_key[dg.AssetKey("fct_domain0__0")]
    assert "floe/column_classifications" in mart.metadata
    assert entry.exists()


def test_a_moved_project_or_another_package_version_is_another_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key the load uses covers where the dbt project is (a translator may put its path in
    metadata) and the versions of floe-scaffold, dagster, dagster-dbt and dbt-core (README)."""
    project, _, _, entry = _cached_project(tmp_path)
    moved = tmp_path / "moved"
    shutil.copytree(Path(project.project_dir), moved)  # its cache entry too
    moved_project, moved_manifest = _dbt_project(moved, None)
    _ours(moved_project, moved_manifest, {})
    assert sorted(path.name for path in _entries(moved_project)) != [entry.name], "not reused"
    assert len(_entries(moved_project)) == 2

    real = assets_module._version
    for package in ("floe-scaffold", "dagster", "dagster-dbt", "dbt-core"):
        before = {path.name for path in _entries(moved_project)}
        monkeypatch.setattr(
            assets_module,
            "_version",
            lambda name, package=package: "0.0.0+other" if name == package else real(name),
        )
        _ours(moved_project, moved_manifest, {})
        assert len({path.name for path in _entries(moved_project)} - before) == 1, package


def test_a_stale_entry_under_the_current_key_is_not_used(tmp_path: Path) -> None:
    """An entry copied from another key (its recorded key differs) is a miss, then rewritten."""
    project, manifest_path, expected, entry = _cached_project(tmp_path)
    document = json.loads(entry.read_bytes())
    document["key"] = "0" * 64
    document["specs"] = []
    entry.write_text(json.dumps(document), encoding="utf-8")
    assert _snapshot(_ours(project, manifest_path, {})) == expected


def test_a_crafted_entry_cannot_run_code(tmp_path: Path) -> None:
    project, manifest_path, expected, entry = _cached_project(tmp_path)
    marker = tmp_path / "ran"
    live: dict[str, Any] = {"dagster_dbt/manifest": {}, "dagster_dbt/dagster_dbt_translator": None}
    key = entry.stem

    class Payload:
        def __reduce__(self) -> tuple[Callable[..., Any], tuple[str]]:
            return (marker.write_text, ("code ran",))

    document = json.loads(entry.read_bytes())
    crafted = [
        pickle.dumps(Payload()),  # a pickle: not JSON, never unpickled
        # serdes objects that are not whitelisted, or not metadata values
        json.dumps({**document, "values": [{"__class__": "Payload", "text": "x"}]}).encode(),
        json.dumps({**document, "values": [{"__class__": "AssetKey", "path": ["x"]}]}).encode(),
        json.dumps({**document, "values": [{"__class__": "os.system", "command": "x"}]}).encode(),
    ]
    for data in crafted:
        entry.write_bytes(data)
        assert load_specs(spec_cache_of(Path(project.project_dir)), key, live) is None
        assert not marker.exists()
    assert _snapshot(_ours(project, manifest_path, {})) == expected
    assert not marker.exists()


def test_entries_are_written_whole_and_only_the_newest_are_kept(tmp_path: Path) -> None:
    project, manifest_path, _, _ = _cached_project(tmp_path)
    for select in (
        "path:marts",
        "path:staging",
        "path:intermediate",
        "+fct_domain0__1",
        "fct_domain0__1+",
    ):
        _ours(project, manifest_path, {}, select)
    folder = spec_cache_of(Path(project.project_dir)).folder
    assert len(_entries(project)) == 4
    assert not [path for path in folder.iterdir() if path.suffix != ".json"], "no temporary left"


def test_the_key_covers_the_manifest_and_every_setting() -> None:
    base = {"select": "fqn:*", "exclude": "", "settings": {}, "versions": ["1", "2", "3", "4"]}
    keys = {
        cache_key("a", base),
        cache_key("b", base),
        cache_key("a", {**base, "select": "path:marts"}),
        cache_key("a", {**base, "exclude": "x"}),
        cache_key("a", {**base, "settings": {"classifications": {"a": {}}}}),
        cache_key("a", {**base, "versions": ["1", "2", "3", "5"]}),
    }
    assert len(keys) == 6


def test_paused_gc_freezes_what_was_built_and_restores_the_collector() -> None:
    import gc

    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        built = [[index] for index in range(1000)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(built)


def test_a_warm_load_parses_no_manifest_and_a_run_gets_it_whole(tmp_path: Path) -> None:
    project, manifest_path, _, _ = _cached_project(tmp_path)
    source = ManifestSource(manifest_path)
    assets = dbt_multi_asset(
        _compute,
        manifest=source,
        validate=lambda parsed: check_acyclic(parsed, manifest_path),
        project=project,
        select="fqn:*",
        exclude="",
        translator=FloeTranslator({}),
        name="dbt_build",
        settings={"classifications": {}},
    ).assets
    assert not source.parsed, "the warm load read the entry, not the manifest"
    from dagster_dbt.asset_utils import get_manifest_and_translator_from_dbt_assets

    manifest, _, _ = get_manifest_and_translator_from_dbt_assets([assets])  # what a run does
    assert manifest == json.loads(manifest_path.read_bytes())
    assert source.parsed


def test_a_manifest_changed_after_the_load_is_named_when_a_run_needs_it(tmp_path: Path) -> None:
    _, manifest_path, _, _ = _cached_project(tmp_path)
    source = ManifestSource(manifest_path)
    source.release()
    manifest_path.write_text(json.dumps({"nodes": {}}), encoding="utf-8")
    with pytest.raises(ManifestChangedError, match="changed after the definitions were loaded"):
        source.get()


#: A cold load in a fresh process (where Dagster has compiled no record yet); it prints what
#: still holds the manifest it parsed once the assets are built.
_COLD_LOAD_HOLDERS = """
import gc
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from floe_scaffold.components import _assets
from floe_scaffold.components._lazy_manifest import ManifestSource
from floe_scaffold.components._translator import FloeTranslator

if sys.argv[2] == "unmended":
    _assets.compile_records = lambda: None  # Dagster's record defect left as it is
seen = []


class Source(ManifestSource):
    def get(self):
        parsed = super().get()
        seen.append(parsed)
        return parsed


def compute(context):
    yield from ()


project_dir = Path(sys.argv[1])
source = Source(project_dir / "target" / "manifest.json")
built = _assets.dbt_multi_asset(
    compute, manifest=source, validate=lambda parsed: None,
    project=DbtProject(project_dir=project_dir), select="fqn:*", exclude="",
    translator=FloeTranslator({}), name="dbt_build", settings={},
)
assert built.assets.keys and not source.parsed and seen
print(sorted(type(holder).__name__ for holder in gc.get_referrers(seen[0]) if holder is not seen))
"""


@pytest.mark.parametrize(("mended", "holders"), [(True, "[]"), (False, "['dict']")])
def test_a_cold_load_lets_the_parsed_manifest_go(
    tmp_path: Path, mended: bool, holders: str
) -> None:
    """Nothing keeps the manifest a cold load parsed (at 20,000 models 480 MiB for good).

    Unmended, Dagster's first ``AssetCheckSpec`` of the process keeps the locals of dagster-dbt's
    spec build, the manifest among them (``compile_records``): the check can fail.
    """
    import subprocess
    import sys

    project, _ = _dbt_project(tmp_path / "dbt", synthetic_manifest(40, seed=5))
    argv = [sys.executable, "-c", _COLD_LOAD_HOLDERS, str(project.project_dir)]
    done = subprocess.run(
        [*argv, "mended" if mended else "unmended"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == holders
    assert len(_entries(project)) == 1, "the entry the specs were read back from"


def test_an_entry_gone_before_it_is_read_back_builds_the_specs_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written, then pruned by another process before this one reads it: built again, the same."""
    from floe_scaffold.components import _assets

    project, manifest_path, expected, entry = _cached_project(tmp_path)
    entry.unlink()
    monkeypatch.setattr(_assets, "load_specs", lambda *_: None)
    assert _snapshot(_ours(project, manifest_path, {})) == expected
    assert _entries(project) == [entry], "written (then not found when read back)"


def test_a_cache_that_cannot_be_written_loads_the_same_without_it(tmp_path: Path) -> None:
    """A read-only project (an image's files): the specs built are used as they are."""
    project, manifest_path, expected, entry = _cached_project(tmp_path)
    entry.unlink()
    folder = spec_cache_of(Path(project.project_dir)).folder
    folder.rmdir()
    folder.write_text("a file where the cache folder would be", encoding="utf-8")
    assert _snapshot(_ours(project, manifest_path, {})) == expected
    assert folder.is_file()


def test_writing_an_entry_removes_temporary_files_a_dead_writer_left(tmp_path: Path) -> None:
    """A process killed while writing leaves its temporary file; the next write removes it."""
    import os
    import time

    project, manifest_path, _, entry = _cached_project(tmp_path)
    abandoned = entry.with_name(f".{entry.name}.4242.deadbeef.tmp")
    in_progress = entry.with_name(f".{entry.name}.4343.cafecafe.tmp")
    for path in (abandoned, in_progress):
        path.write_text('{"format":', encoding="utf-8")
    an_hour_ago = time.time() - 3600
    os.utime(abandoned, (an_hour_ago, an_hour_ago))
    entry.unlink()
    _ours(project, manifest_path, {})  # a cold load: writes the entry again
    assert entry.is_file()
    assert not abandoned.exists(), "left by a writer that died an hour ago"
    assert in_progress.exists(), "a writer may still be at work on this one"
