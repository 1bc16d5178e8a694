"""How a dbt node becomes a Dagster asset: dagster-dbt's defaults plus what floe adds.

* group: the dbt ``group`` if the node has one, else its folder under ``models/`` (``staging``,
  ``marts``), so the UI shows the project's own layers;
* owners: ``meta.floe.owner`` (an e-mail, or a team written ``team:name``; a bare name becomes
  ``team:<name>``), as Dagster accepts only those two forms;
* metadata: materialization, dbt unique id, relation name, and column classifications from
  ``meta.floe`` and the contract (FR-010, FR-015);
* keys: dagster-dbt's, or with ``key="name"`` a model's, seed's or snapshot's name alone
  (``translation.key`` in ``defs.yaml``; see ``_keys.py``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from dagster import AssetKey, MetadataValue
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

from floe_scaffold.components._keys import ASSET_TYPES, name_key

__all__ = ["FloeTranslator"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_GROUP = re.compile(r"[^A-Za-z0-9_]")


def floe_meta(props: Mapping[str, Any]) -> Mapping[str, Any]:
    """The node's ``meta.floe`` mapping (dbt puts ``meta`` at the top and under ``config``)."""
    for meta in (props.get("config", {}).get("meta"), props.get("meta")):
        if isinstance(meta, Mapping) and isinstance(meta.get("floe"), Mapping):
            return meta["floe"]  # type: ignore[no-any-return]
    return {}


def column_classifications(
    props: Mapping[str, Any], contract: Mapping[str, Mapping[str, Mapping[str, Any]]]
) -> dict[str, dict[str, Any]]:
    """Classified columns of a node: dbt ``meta.floe`` first, then the contract's list."""
    found: dict[str, dict[str, Any]] = {}
    for name, column in (props.get("columns") or {}).items():
        meta = column.get("meta", {}).get("floe") or column.get("config", {}).get("meta", {}).get(
            "floe"
        )
        if isinstance(meta, Mapping) and meta.get("classification"):
            found[name] = {
                "classification": str(meta["classification"]),
                "pii_type": meta.get("pii_type"),
                "sensitivity": meta.get("sensitivity", "medium"),
            }
    for name, classification in contract.get(str(props.get("name")), {}).items():
        found.setdefault(name, dict(classification))
    return found


class FloeTranslator(DagsterDbtTranslator):
    """dagster-dbt's translator with floe's groups, owners and metadata."""

    def __init__(
        self,
        classifications: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
        settings: DagsterDbtTranslatorSettings | None = None,
        *,
        key: str = "default",
    ) -> None:
        super().__init__(settings)
        self._classifications = classifications or {}
        self._key_by_name = key == "name"

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if not self._key_by_name or dbt_resource_props.get("resource_type") not in ASSET_TYPES:
            return super().get_asset_key(dbt_resource_props)
        meta = dbt_resource_props.get("config", {}).get("meta") or dbt_resource_props.get("meta")
        if isinstance(meta, Mapping) and (meta.get("dagster") or {}).get("asset_key"):
            return super().get_asset_key(dbt_resource_props)  # an explicit key wins
        return name_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        group = super().get_group_name(dbt_resource_props)
        if group:
            return group
        fqn: Sequence[str] = dbt_resource_props.get("fqn") or ()
        if dbt_resource_props.get("resource_type") == "seed":
            return "seeds"
        if len(fqn) > 2:  # [project, folder, ..., name]
            return _GROUP.sub("_", fqn[1]) or None
        return None

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> Sequence[str] | None:
        owner = floe_meta(dbt_resource_props).get("owner")
        if not isinstance(owner, str) or not owner.strip():
            return super().get_owners(dbt_resource_props)
        owner = owner.strip()
        if _EMAIL.match(owner) or owner.startswith("team:"):
            return [owner]
        return [f"team:{_GROUP.sub('_', owner)}"]

    def get_metadata(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, Any]:
        metadata = dict(super().get_metadata(dbt_resource_props))
        config = dbt_resource_props.get("config", {})
        metadata["dbt/materialization"] = MetadataValue.text(
            str(config.get("materialized") or dbt_resource_props.get("resource_type"))
        )
        metadata["dbt/unique_id"] = MetadataValue.text(str(dbt_resource_props["unique_id"]))
        relation = dbt_resource_props.get("relation_name")
        if relation:
            metadata["dbt/relation_name"] = MetadataValue.text(str(relation))
        classified = column_classifications(dbt_resource_props, self._classifications)
        if classified:
            metadata["floe/column_classifications"] = MetadataValue.json(classified)
        model_meta = {k: v for k, v in floe_meta(dbt_resource_props).items() if k != "owner"}
        if model_meta:
            metadata["floe/meta"] = MetadataValue.json(dict(model_meta))
        return metadata
