"""Asset keys: which configs make them depend on the environment, and ``translation.key: name``.

Fast checks of ``components/_keys.py`` and the translator on hand-written ``dbt_project.yml``
files and manifest nodes; ``test_real_corpus.py`` runs the same through ``floe validate`` and
``floe run`` on real projects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from floe_scaffold.components._keys import key_dependencies, key_warning, project_key_warnings
from floe_scaffold.components._translator import FloeTranslator


def _project(root: Path, models: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "dbt_project.yml").write_text(
        f"name: shop\nversion: '1.0'\nconfig-version: 2\nprofile: shop\n{models}",
        encoding="utf-8",
    )
    return root


def _node(name: str, **extra: Any) -> dict[str, Any]:
    node: dict[str, Any] = {
        "unique_id": f"model.shop.{name}",
        "resource_type": "model",
        "name": name,
        "alias": name,
        "config": {"materialized": "table"},
        "unrendered_config": {},
    }
    node.update(extra)
    return node


@pytest.mark.parametrize(
    "value",
    [
        "{{ var('s') }}",
        "marts_{{ env_var('DBT_SCHEMA', 'dev') }}",
        "{{ 'ci' if target.name == 'ci' else 'marts' }}",
        "{{var ( 's' )}}",
    ],
)
def test_a_schema_from_the_environment_is_found(tmp_path: Path, value: str) -> None:
    project = _project(tmp_path, f'models:\n  shop:\n    marts:\n      +schema: "{value}"\n')
    found = key_dependencies(project)
    assert [(d.where, d.value) for d in found] == [
        ("dbt_project.yml models.shop.marts.+schema", value)
    ]
    line = key_warning(found, "src/shop/defs/dbt_project/defs.yaml")
    assert line is not None and "\n" not in line
    assert "translation: {key: name}" in line and "src/shop/defs/dbt_project/defs.yaml" in line


@pytest.mark.parametrize(
    "models",
    [
        "",
        "models:\n  shop:\n    +schema: marts\n",
        "models:\n  shop:\n    +tags: \"{{ var('t') }}\"\n",  # not part of a key
        "models:\n  shop:\n    +schema: \"{{ 'marts' | upper }}\"\n",  # jinja, but fixed
        "models:\n  shop:\n    +schema: \"variable_{{ 'x' }}\"\n",
    ],
)
def test_configs_that_never_move_keys_are_not_reported(tmp_path: Path, models: str) -> None:
    assert key_dependencies(_project(tmp_path, models)) == []
    assert key_warning([]) is None


def test_the_manifest_names_the_nodes_and_configs_set_in_a_model(tmp_path: Path) -> None:
    value = "{{ var('s') }}"
    project = _project(tmp_path, f'models:\n  shop:\n    +schema: "{value}"\n')
    manifest = {
        "nodes": {
            "model.shop.a": _node("a", unrendered_config={"schema": value}),
            "model.shop.b": _node("b", unrendered_config={"schema": value}),
            "model.shop.eph": _node(
                "eph", config={"materialized": "ephemeral"}, unrendered_config={"schema": value}
            ),
            "model.shop.own": _node("own", unrendered_config={"schema": "{{ target.schema }}"}),
            "model.shop.v": _node(
                "v", version=2, unrendered_config={"alias": "v_{{ env_var('X') }}"}
            ),
            "model.shop.fixed": _node("fixed", unrendered_config={"schema": "marts"}),
        }
    }
    found = {d.where: d for d in key_dependencies(project, manifest)}
    assert found["dbt_project.yml models.shop.+schema"].nodes == ("a", "b")
    assert found["the `schema` config"].nodes == ("own",)
    assert found["the `alias` config"].nodes == ("v",)
    assert len(found) == 3
    line = key_warning(list(found.values()))
    assert line is not None and "keys 2 nodes (a, b)" in line


def test_a_pinned_component_gets_no_warning(tmp_path: Path) -> None:
    _project(tmp_path / "dbt", "models:\n  +schema: \"{{ var('s') }}\"\n")
    defs = tmp_path / "src" / "shop" / "defs" / "dbt_project"
    defs.mkdir(parents=True)
    component = "type: floe_scaffold.components.FloeDbtProject\nattributes:\n  dbt_project: dbt\n"
    (defs / "defs.yaml").write_text(component, encoding="utf-8")
    (line,) = project_key_warnings(tmp_path)
    assert "src/shop/defs/dbt_project/defs.yaml" in line
    pinned = component + "  translation:\n    key: name\n"
    (defs / "defs.yaml").write_text(pinned, encoding="utf-8")
    assert project_key_warnings(tmp_path) == []


def test_translation_key_name_keys_nodes_by_name() -> None:
    schema = _node("orders", config={"materialized": "table", "schema": "marts"})
    versioned = _node("orders", version=2, alias="orders_v2")
    explicit = _node("x", config={"meta": {"dagster": {"asset_key": ["a", "b"]}}})
    source = {"resource_type": "source", "source_name": "shop", "name": "raw", "config": {}}
    default, by_name = FloeTranslator(), FloeTranslator(key="name")
    assert default.get_asset_key(schema) == dg.AssetKey(["marts", "orders"])
    assert by_name.get_asset_key(schema) == dg.AssetKey("orders")
    assert by_name.get_asset_key(versioned) == dg.AssetKey("orders_v2")
    assert by_name.get_asset_key(explicit) == dg.AssetKey(["a", "b"])
    assert by_name.get_asset_key(source) == default.get_asset_key(source)
    assert by_name.get_asset_key(source) == dg.AssetKey(["shop", "raw"])
