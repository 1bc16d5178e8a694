"""What a dbt node's asset key is, and when it can change from one environment to the next.

dagster-dbt's default key (kept by floe unless ``translation.key`` says otherwise) is:

* a source: ``<source name>/<table>``;
* a model, seed or snapshot with a ``schema`` configured (in ``dbt_project.yml`` or the node's
  own config): ``<schema>/<name>``, else ``<name>``;
* a versioned model: its alias (``<name>_v<version>`` unless one is configured);
* any node with ``meta.dagster.asset_key``: that key.

A configured ``schema`` (or a versioned model's ``alias``) rendered from ``var(...)``,
``env_var(...)`` or ``target.*`` therefore makes keys depend on the environment: another
``--vars``, variable or target renames the assets, and their history stays under the old keys.
:func:`key_dependencies` finds such configs (the raw ``dbt_project.yml``, and the manifest's
``unrendered_config`` of every node when a manifest exists) and :func:`key_warning` says it in
one line, with the fix: ``translation: {key: name}`` in the component's ``defs.yaml`` keys models,
seeds and snapshots by name alone (``<name>``, ``<name>_v<version>`` for a versioned model).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import dagster as dg
import yaml
from pydantic import Field

from floe_scaffold._bounded import read_config_text

__all__ = [
    "ASSET_TYPES",
    "COMPONENT_TYPE",
    "KeyDependency",
    "TranslationSettings",
    "component_attributes",
    "key_dependencies",
    "key_warning",
    "name_key",
    "project_key_warnings",
]

#: The dbt resource types that become assets (ephemeral models excepted).
ASSET_TYPES = frozenset({"model", "seed", "snapshot"})
#: The component's type as ``defs.yaml`` names it.
COMPONENT_TYPE = "floe_scaffold.components.FloeDbtProject"
#: Configs that go into dagster-dbt's default key of a model, seed or snapshot.
_KEY_CONFIGS = ("schema",)
_RESOURCE_SECTIONS = ("models", "seeds", "snapshots")
#: Jinja that reads the environment: var(...), env_var(...) or target.<anything>.
_DYNAMIC = re.compile(r"\b(?:env_var|var)\s*\(|\btarget\s*\.")
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
_SHOWN = 3


class TranslationSettings(dg.Model):
    """How dbt nodes become asset keys (``translation`` in ``defs.yaml``)."""

    key: Literal["default", "name"] = Field(
        default="default",
        description="`default`: dagster-dbt's key, `<schema>/<model>` when a schema is "
        "configured, else `<model>`; `name`: the node's name alone (`<model>_v<version>` for "
        "a versioned model), the same in every environment. Sources keep `<source>/<table>`, and "
        "`meta.dagster.asset_key` wins in both.",
    )


def name_key(node: Mapping[str, Any]) -> dg.AssetKey:
    """A model's, seed's or snapshot's key by name alone (``translation: {key: name}``)."""
    version = node.get("version")
    name = str(node["name"])
    return dg.AssetKey(f"{name}_v{version}" if version not in (None, "") else name)


@dataclass(frozen=True)
class KeyDependency:
    """A key-shaping config rendered from the environment, and the nodes it keys.

    Attributes:
        where: where the config is written: ``dbt_project.yml models.+schema`` or ``the config
            of model X``.
        value: the config as written (unrendered).
        nodes: the names of the models, seeds and snapshots whose keys it shapes (empty when
            only ``dbt_project.yml`` was read, before any manifest).

    """

    where: str
    value: str
    nodes: tuple[str, ...] = ()


def _dynamic(value: Any) -> bool:
    return isinstance(value, str) and any(_DYNAMIC.search(block) for block in _JINJA.findall(value))


def _project_configs(tree: Any, path: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    if not isinstance(tree, Mapping):
        return
    for key, value in tree.items():
        name = str(key)
        if name.lstrip("+") in _KEY_CONFIGS and isinstance(value, str):
            if _dynamic(value):
                yield ".".join((*path, name)), value
        elif isinstance(value, Mapping):
            yield from _project_configs(value, (*path, name))


def _raw_project(project_dir: Path) -> list[tuple[str, str]]:
    try:
        loaded = yaml.safe_load(read_config_text(project_dir / "dbt_project.yml"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    if not isinstance(loaded, Mapping):
        return []
    found: list[tuple[str, str]] = []
    for section in _RESOURCE_SECTIONS:
        found.extend(_project_configs(loaded.get(section), (section,)))
    return found


def _manifest_nodes(manifest: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(node name, config name, unrendered value) of every key-shaping dynamic config."""
    for node in (manifest.get("nodes") or {}).values():
        if node.get("resource_type") not in ASSET_TYPES:
            continue
        if (node.get("config") or {}).get("materialized") == "ephemeral":
            continue
        unrendered = node.get("unrendered_config") or {}
        names = (*_KEY_CONFIGS, "alias") if node.get("version") is not None else _KEY_CONFIGS
        for config in names:
            if _dynamic(unrendered.get(config)):
                yield str(node["name"]), config, str(unrendered[config])


def key_dependencies(
    project_dir: Path, manifest: Mapping[str, Any] | None = None
) -> list[KeyDependency]:
    """The configs that make asset keys depend on a var, an env var or the target.

    ``project_dir`` is the dbt project; its raw ``dbt_project.yml`` is read. With ``manifest``,
    each node's ``unrendered_config`` is read too, so configs set in a model's own ``config()``
    or properties file are found, and each project config names the nodes it shapes.
    """
    raw = _raw_project(project_dir)
    if manifest is None:
        return [KeyDependency(f"dbt_project.yml {path}", value) for path, value in raw]
    by_value: dict[tuple[str, str], list[str]] = {}
    for name, config, value in _manifest_nodes(manifest):
        by_value.setdefault((config, value), []).append(name)
    found: list[KeyDependency] = []
    for path, value in raw:
        nodes = by_value.pop((path.rsplit(".", 1)[-1].lstrip("+"), value), None)
        if nodes:
            found.append(KeyDependency(f"dbt_project.yml {path}", value, tuple(sorted(nodes))))
    for (config, value), nodes in sorted(by_value.items()):
        found.append(KeyDependency(f"the `{config}` config", value, tuple(sorted(nodes))))
    return found


def _nodes_text(nodes: Sequence[str]) -> str:
    shown = ", ".join(nodes[:_SHOWN])
    more = f" and {len(nodes) - _SHOWN} more" if len(nodes) > _SHOWN else ""
    return f"{len(nodes)} node{'s' if len(nodes) != 1 else ''} ({shown}{more})"


def key_warning(dependencies: Sequence[KeyDependency], defs_yaml: str = "defs.yaml") -> str | None:
    """One line naming what makes keys depend on the environment and how to pin them."""
    if not dependencies:
        return None
    parts = []
    for dependency in dependencies:
        keyed = f" keys {_nodes_text(dependency.nodes)}" if dependency.nodes else ""
        parts.append(f"{dependency.where} = {dependency.value!r}{keyed}")
    return (
        "warning: asset keys depend on a var, an env var or the target: "
        + "; ".join(parts)
        + " (dagster-dbt keys a model `<schema>/<name>`), so another value renames those "
        f"assets; pin keys to model names with `translation: {{key: name}}` under `attributes` "
        f"in {defs_yaml}"
    )


def component_attributes(source_dir: Path) -> Iterator[tuple[Path, Mapping[str, Any]]]:
    """Each floe component's ``defs.yaml`` under ``source_dir/defs`` and its attributes."""
    defs = source_dir / "defs"
    if not defs.is_dir():
        return
    for path in sorted(defs.rglob("defs.yaml")):
        try:
            documents = list(yaml.safe_load_all(read_config_text(path)))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        for document in documents:
            if isinstance(document, Mapping) and document.get("type") == COMPONENT_TYPE:
                attributes = document.get("attributes")
                yield path, attributes if isinstance(attributes, Mapping) else {}


def project_key_warnings(
    root: Path, dbt_dir: str | None = None, *, read_manifest: bool = True
) -> list[str]:
    """The key warning of each floe component of the project at ``root`` with unpinned keys.

    Pinned: ``translation.key: name`` in its ``defs.yaml``. Before ``floe init`` made a
    component, the dbt project at ``root/dbt_dir`` is checked. ``read_manifest=False`` reads
    ``dbt_project.yml`` alone (``floe run``: a manifest of thousands of models takes a second
    to parse, which every run would pay).
    """
    components = [
        found
        for source in sorted((root / "src").glob("*"))
        for found in component_attributes(source)
    ]
    if not components and dbt_dir is not None:
        components = [
            (
                root / "src" / "<package>" / "defs" / "dbt_project" / "defs.yaml",
                {"dbt_project": dbt_dir},
            )
        ]
    lines = []
    for path, attributes in components:
        translation = attributes.get("translation")
        if isinstance(translation, Mapping) and translation.get("key") == "name":
            continue
        project_dir = root / str(attributes.get("dbt_project") or "dbt")
        if not (project_dir / "dbt_project.yml").is_file():
            continue
        manifest = (
            _read_manifest(project_dir / "target" / "manifest.json") if read_manifest else None
        )
        where = path.relative_to(root) if path.is_relative_to(root) else path
        line = key_warning(key_dependencies(project_dir, manifest), str(where))
        if line is not None:
            lines.append(line)
    return lines


def _read_manifest(path: Path) -> Mapping[str, Any] | None:
    try:
        loaded = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, Mapping) else None
