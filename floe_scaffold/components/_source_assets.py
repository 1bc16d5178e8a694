"""The dbt sources that get an asset of their own: those checked for freshness, those made here.

dagster-dbt makes no asset for a dbt source: its key is only an upstream dependency of the models
that read it, so Dagster shows it as an external asset without dependencies. floe defines one
(external: a run never materializes it) for each source that

* has a ``source_freshness`` check (``_freshness``): the check needs an asset to sit on;
* reads a relation that a seed, model or snapshot of the same project makes (``_relations``):
  the source's asset then depends on that producer, so the asset graph reads
  producer -> source -> the models reading the source, one graph instead of two.

Everything else in the graph stays as dagster-dbt builds it (the models' own dependencies
still name the source's key, as in ``dagster-dbt project scaffold``'s graph).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

import dagster as dg

from floe_scaffold._relations import produced_sources

__all__ = ["source_asset_specs"]

AssetKeyOf = Callable[[Mapping[str, Any]], dg.AssetKey]


def source_asset_specs(
    manifest: Mapping[str, Any], asset_key_of: AssetKeyOf, checked: Collection[str]
) -> list[dg.AssetSpec]:
    """An external asset per source in ``checked`` (unique ids) or over a project-made relation.

    Its dependencies are the seeds, models and snapshots that make the source's relation. A
    source whose key is also a dbt node's key is left to the caller (it is that node's asset).
    """
    made_by = produced_sources(manifest)
    nodes = manifest.get("nodes") or {}
    specs: dict[dg.AssetKey, dg.AssetSpec] = {}
    for unique_id, source in sorted((manifest.get("sources") or {}).items()):
        makers = made_by.get(unique_id, ())
        if not makers and unique_id not in checked:
            continue
        key = asset_key_of(source)
        if key in specs:
            continue
        deps = [asset_key_of(nodes[maker]) for maker in makers]
        if makers:
            names = ", ".join(str(nodes[maker].get("name") or maker) for maker in makers)
            description = (
                f"A dbt source over a relation this project makes ({names}): it reads what "
                "they write, and a run builds them first."
            )
        else:
            description = "A dbt source: a table loaded outside dbt, checked for freshness."
        specs[key] = dg.AssetSpec(
            key,
            deps=deps,
            description=description,
            group_name="sources",
            kinds={"dbt"},
            metadata={"dbt/unique_id": dg.MetadataValue.text(unique_id)},
        )
    return list(specs.values())
