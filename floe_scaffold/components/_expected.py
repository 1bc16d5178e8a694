"""What a generated project's asset graph must be, from dbt's manifest and the component's keys.

Used by the generated project's own tests (``tests/test_definitions.py``), so that they hold for
any dbt project adopted: the assets are the manifest's enabled models, seeds and snapshots the
component selects (ephemeral models are looked through; disabled nodes, tests, unit tests,
exposures, semantic models and metrics are no assets); each asset's upstream keys are its dbt
parents; every key is the one the component's translator gives (``translation`` in
``defs.yaml``: dagster-dbt's ``<schema>/<model>``, or the name alone); and the sources with a
``source_freshness`` check are those floe judges (``_freshness.freshness_sources``: a
``loaded_at_field`` and a ``warn_after`` or ``error_after``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from floe_scaffold.components._component import FloeDbtProject
from floe_scaffold.components._freshness import freshness_sources
from floe_scaffold.components._keys import ASSET_TYPES
from floe_scaffold.components._manifest import ensure_manifest

__all__ = ["ExpectedDbtGraph", "expected_dbt_graph", "expected_dbt_graphs"]

AssetKeyOf = Callable[[Mapping[str, Any]], dg.AssetKey]


@dataclass(frozen=True)
class ExpectedDbtGraph:
    """The assets one floe component must define, by dbt unique id.

    Attributes:
        assets: each model, seed and snapshot that is an asset, and its key.
        parents: each of those assets' upstream keys (sources included, ephemeral models
            looked through).
        fresh_sources: each source with a ``source_freshness`` check, and the keys of the seeds
            that write its table (its upstream assets).
        incremental: the keys of incremental models.

    """

    assets: Mapping[str, dg.AssetKey]
    parents: Mapping[str, frozenset[dg.AssetKey]]
    fresh_sources: Mapping[dg.AssetKey, frozenset[dg.AssetKey]]
    incremental: frozenset[dg.AssetKey]


def _ephemeral(node: Mapping[str, Any]) -> bool:
    return (node.get("config") or {}).get("materialized") == "ephemeral"


def _parents(
    manifest: Mapping[str, Any], unique_id: str, key_of: AssetKeyOf
) -> frozenset[dg.AssetKey]:
    nodes = {**manifest.get("nodes", {}), **manifest.get("sources", {})}
    found: set[dg.AssetKey] = set()
    for upstream in manifest.get("parent_map", {}).get(unique_id, []):
        node = nodes.get(upstream)
        if node is None:
            continue
        if node["resource_type"] == "model" and _ephemeral(node):
            found |= _parents(manifest, upstream, key_of)
        elif node["resource_type"] in ASSET_TYPES or node["resource_type"] == "source":
            found.add(key_of(node))
    return frozenset(found)


def expected_dbt_graph(
    manifest: Mapping[str, Any], key_of: AssetKeyOf, selected: set[str] | None = None
) -> ExpectedDbtGraph:
    """The expected graph of a manifest, keyed by ``key_of``.

    ``selected``: the unique ids the component's ``select``/``exclude`` keep (all when None).
    """
    assets = {
        unique_id: key_of(node)
        for unique_id, node in manifest.get("nodes", {}).items()
        if node.get("resource_type") in ASSET_TYPES
        and not _ephemeral(node)
        and (selected is None or unique_id in selected)
    }
    return ExpectedDbtGraph(
        assets=assets,
        parents={unique_id: _parents(manifest, unique_id, key_of) for unique_id in assets},
        fresh_sources={
            source.asset_key: frozenset(source.loaded_by)
            for source in freshness_sources(manifest, key_of)
        },
        incremental=frozenset(
            assets[unique_id]
            for unique_id in assets
            if manifest["nodes"][unique_id].get("config", {}).get("materialized") == "incremental"
        ),
    )


def expected_dbt_graphs(defs: dg.Definitions, project_root: Path) -> list[ExpectedDbtGraph]:
    """The expected graph of each floe component of a generated project's definitions.

    ``defs`` are the project's definitions, as ``load_from_defs_folder`` made them: their
    components (already loaded) give each dbt project, its selection and its keys.
    """
    from dagster_dbt import DbtProject
    from dagster_dbt.utils import select_unique_ids

    tree = defs.component_tree or dg.ComponentTree.for_project(project_root)
    graphs = []
    for component in tree.get_all_components(of_type=FloeDbtProject):
        dbt_dir = (project_root / component.dbt_project).resolve()
        profiles_dir = (project_root / component.profiles_dir).resolve()
        path = ensure_manifest(
            dbt_dir,
            profiles_dir,
            target=component.target,
            profile=component.profile,
            mode="never",  # loading the definitions prepared it
        )
        manifest = json.loads(path.read_bytes())
        project = DbtProject(
            project_dir=dbt_dir,
            profiles_dir=profiles_dir,
            target=component.target,
            profile=component.profile,
        )
        selected = select_unique_ids(component.select, component.exclude, "", project, manifest)
        graphs.append(
            expected_dbt_graph(manifest, component.translator().get_asset_key, set(selected))
        )
    return graphs
