"""The dbt assets of a load, built fast: cached specs, no GC pauses, linear asset graph.

``dbt_multi_asset`` is dagster-dbt's ``@dbt_assets`` (``build_dbt_specs``, then ``multi_asset``
with the same arguments and op tags) with the specs taken from the spec cache when an entry
matches (``_spec_cache``), and written to it when none does. With a dagster-dbt this was not
checked against, it is ``@dbt_assets`` itself, uncached. ``tests/project/test_load_speed.py``
checks the asset graph is identical to ``@dbt_assets``'s, cold and warm.

``paused_gc`` keeps Python's cyclic garbage collector off while the definitions are built: they
are millions of small objects that live as long as the process, which the collector would scan
again and again (about 9 s of a 20,000-model load; ``json.loads`` of the manifest runs 3.5x
faster without it). After the build they are frozen (``gc.freeze``), so later collections skip
them too.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, NamedTuple

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtProject, dbt_assets

from floe_scaffold.components._dagster_workaround import compile_records, install_workaround
from floe_scaffold.components._lazy_manifest import LazyManifestWrapper, ManifestSource
from floe_scaffold.components._spec_cache import (
    CacheEntries,
    Specs,
    cache_key,
    load_specs,
    save_specs,
)

__all__ = ["CACHE_FOLDER", "DbtAssets", "dbt_multi_asset", "paused_gc", "spec_cache_of"]

#: The spec cache's folder, under the dbt project's ``target/`` (beside the manifest).
CACHE_FOLDER = "floe_spec_cache"
#: dagster-dbt minor versions whose ``@dbt_assets`` this module was checked to match.
_CHECKED_DAGSTER_DBT = ((0, 27), (0, 28), (0, 29))


class DbtAssets(NamedTuple):
    """The dbt multi-asset, and the other check and asset specs built from the same manifest."""

    assets: dg.AssetsDefinition
    extra_checks: Sequence[dg.AssetCheckSpec]
    extra_specs: Sequence[dg.AssetSpec] = ()


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic GC for the duration; what was built is frozen after (never scanned again)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def spec_cache_of(project_dir: Path) -> CacheEntries:
    """The spec cache of a dbt project: ``target/floe_spec_cache`` beside its manifest."""
    return CacheEntries(project_dir / "target" / CACHE_FOLDER)


def _version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


def _checked_dagster_dbt() -> bool:
    from dagster_dbt.version import __version__

    try:
        minor = tuple(int(part) for part in __version__.split(".")[:2])
    except ValueError:
        return False
    return minor in _CHECKED_DAGSTER_DBT


#: What dagster-dbt's translator memoizes per manifest, by ``id(manifest)``
#: (``dagster_dbt_translator.py``): every spec it built, each holding the manifest.
_TRANSLATOR_MEMOS = ("_resolved_specs", "_colliding_source_keys_cache")


def _forget_memo(translator: DagsterDbtTranslator) -> None:
    """Empty the translator's memo of the specs it built, so the manifest they hold can go.

    The memo is keyed by ``id(manifest)``: kept past the manifest, it would also answer for a
    later manifest that happens to get the same ``id``. Emptied, it fills again on next use.
    """
    for name in _TRANSLATOR_MEMOS:
        memo = vars(translator).get(name)
        if isinstance(memo, dict):
            memo.clear()


def dbt_multi_asset(
    compute: Callable[..., Any],
    *,
    manifest: ManifestSource,
    validate: Callable[[dict[str, Any]], None],
    project: DbtProject,
    select: str,
    exclude: str,
    translator: DagsterDbtTranslator,
    name: str,
    settings: Mapping[str, Any],
    extra_checks: Callable[[Mapping[str, Any]], list[dg.AssetCheckSpec]] | None = None,
    extra_specs: Callable[[Mapping[str, Any]], list[dg.AssetSpec]] | None = None,
    keep_manifest: bool = False,
) -> DbtAssets:
    """``@dbt_assets(...)(compute)``, its specs from the spec cache when an entry matches.

    The manifest is parsed only when no entry matches (then ``validate`` checks it first); with
    an entry, its metadata holds a wrapper that parses it on first use (when a run starts).
    ``settings`` is whatever else shapes the specs through the translator (the contract's column
    classifications); it goes into the cache key with the selection, the translator's class and
    settings, the dbt project's path and the versions of floe-scaffold, dagster, dagster-dbt and
    dbt-core. ``extra_checks`` gives the check specs of other definitions from the parsed manifest
    (the sources' freshness checks, ``_freshness``); they are cached in the same entry and
    returned beside the multi-asset, not on it; ``extra_specs`` likewise gives asset specs of
    other definitions (the sources' external assets, ``_source_assets``). A manifest parsed here
    is let go after the specs are built unless ``keep_manifest`` (the caller reads it next:
    schedules' selections).
    """
    install_workaround()
    if not _checked_dagster_dbt():
        parsed = manifest.get()
        validate(parsed)
        assets = dbt_assets(
            manifest=parsed,
            project=project,
            select=select,
            exclude=exclude,
            dagster_dbt_translator=translator,
            name=name,
        )(compute)
        return DbtAssets(
            assets,
            extra_checks(parsed) if extra_checks is not None else [],
            extra_specs(parsed) if extra_specs is not None else [],
        )
    from dagster_dbt.asset_utils import (
        DAGSTER_DBT_EXCLUDE_METADATA_KEY,
        DAGSTER_DBT_MANIFEST_METADATA_KEY,
        DAGSTER_DBT_PROJECT_METADATA_KEY,
        DAGSTER_DBT_SELECT_METADATA_KEY,
        DAGSTER_DBT_TRANSLATOR_METADATA_KEY,
        build_dbt_specs,
    )

    parts = {
        "select": select,
        "exclude": exclude,
        "translator": f"{type(translator).__module__}.{type(translator).__qualname__}",
        "translator_settings": repr(translator.settings),
        "settings": settings,
        "project_dir": str(project.project_dir),  # paths a translator may put in metadata
        "versions": [
            _version(name) for name in ("floe-scaffold", "dagster", "dagster-dbt", "dbt-core")
        ],
    }
    entries = spec_cache_of(Path(project.project_dir))
    key = cache_key(manifest.digest, parts)
    live: dict[str, Any] = {
        DAGSTER_DBT_TRANSLATOR_METADATA_KEY: translator,
        DAGSTER_DBT_PROJECT_METADATA_KEY: project,
    }
    lazy = {**live, DAGSTER_DBT_MANIFEST_METADATA_KEY: LazyManifestWrapper(manifest)}

    def build() -> Specs:
        compile_records()  # before the manifest is in a frame Dagster could copy (see there)
        parsed = manifest.get()
        live[DAGSTER_DBT_MANIFEST_METADATA_KEY] = parsed
        specs, check_specs = build_dbt_specs(
            translator=translator,
            manifest=parsed,
            select=select,
            exclude=exclude,
            selector="",
            io_manager_key=None,
            project=project,
        )
        return (
            specs,
            check_specs,
            extra_checks(parsed) if extra_checks is not None else [],
            extra_specs(parsed) if extra_specs is not None else [],
        )

    found = load_specs(entries, key, lazy)
    if found is None:
        validate(manifest.get())
        found = build()
        if save_specs(entries, key, *found[:2], live, *found[2:]) and not keep_manifest:
            # The specs again from the entry just written, as a warm load gets them: they hold
            # the lazy wrapper, not the parsed manifest, which can then go before Dagster builds
            # the op, the repository and the asset graph (the peak of a cold load is then that
            # of the spec build, not that plus all of Dagster's work after it).
            del found
            live.pop(DAGSTER_DBT_MANIFEST_METADATA_KEY)
            _forget_memo(translator)
            manifest.release()
            # None: removed in between (another process pruned it), so built again
            found = load_specs(entries, key, lazy) or build()
    specs, check_specs, extra, extra_assets = found
    # The op tags and arguments @dbt_assets passes (dagster_dbt/asset_decorator.py).
    op_tags = {
        **({DAGSTER_DBT_SELECT_METADATA_KEY: select} if select else {}),
        **({DAGSTER_DBT_EXCLUDE_METADATA_KEY: exclude} if exclude else {}),
    }
    assets = dg.multi_asset(
        name=name,
        specs=specs,
        check_specs=check_specs,
        can_subset=True,
        op_tags=op_tags,
        allow_arbitrary_check_specs=True,
    )(compute)
    return DbtAssets(assets, extra, extra_assets)
