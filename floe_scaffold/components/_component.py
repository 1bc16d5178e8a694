"""The floe Dagster component: every dbt model and seed of a project as a Software-Defined Asset.

Named in a generated project's ``defs.yaml``::

    type: floe_scaffold.components.FloeDbtProject
    attributes:
      dbt_project: dbt
      profiles_dir: .floe/profiles
      target: dev

It builds on dagster-dbt (``DbtProject``, ``@dbt_assets``, ``DbtCliResource``): asset
dependencies are dbt's DAG (ephemeral models are resolved through, not materialized), dbt data
tests become asset checks, and dbt's events stream into the Dagster event log. Paths are
relative to the project root (the folder holding ``pyproject.toml``).
"""

# No `from __future__ import annotations`: Dagster inspects the asset function's `context`
# annotation at runtime and needs the real class, not a string.

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext
from dagster_dbt import DbtProject, dbt_assets
from pydantic import Field

from floe_scaffold.components._manifest import (
    DBT_QUIET_FLAGS,
    PrepareMode,
    check_acyclic,
    dbt_executable,
    ensure_manifest,
)
from floe_scaffold.components._resource import FloeDbtCliResource
from floe_scaffold.components._translator import FloeTranslator
from floe_scaffold.contract import load_artifacts

__all__ = ["FloeDbtProject"]


class FloeDbtProject(dg.Component, dg.Model, dg.Resolvable):
    """A dbt project, run by dbt build, as Dagster assets with floe's profiles and metadata."""

    dbt_project: str = Field(
        default="dbt", description="The dbt project directory, relative to the project root."
    )
    profiles_dir: str = Field(
        default=".floe/profiles",
        description="Directory of the generated profiles.yml, relative to the project root.",
    )
    target: str | None = Field(default=None, description="dbt target (environment) to run.")
    profile: str | None = Field(default=None, description="dbt profile name, if not the project's.")
    artifacts: str | None = Field(
        default=".floe/compiled_artifacts.json",
        description="The CompiledArtifacts contract, for column classifications.",
    )
    select: str = Field(default="fqn:*", description="dbt selection of the nodes to load.")
    exclude: str = Field(default="", description="dbt selection of nodes to leave out.")
    prepare: PrepareMode = Field(
        default="auto",
        description="When to run `dbt parse`: `auto` if the manifest is missing or (in "
        "development) stale, `always`, or `never`.",
    )
    cli_args: list[str] = Field(
        default_factory=lambda: ["build"], description="dbt command run on materialization."
    )

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        root = Path(context.project_root)
        project_dir = (root / self.dbt_project).resolve()
        profiles_dir = (root / self.profiles_dir).resolve()
        manifest_path = ensure_manifest(
            project_dir, profiles_dir, target=self.target, profile=self.profile, mode=self.prepare
        )
        manifest = json.loads(manifest_path.read_bytes())
        check_acyclic(manifest, manifest_path)
        project = DbtProject(
            project_dir=project_dir,
            profiles_dir=profiles_dir,
            target=self.target,
            profile=self.profile,
        )
        translator = FloeTranslator(self._classifications(root))
        resource = FloeDbtCliResource(
            project_dir=str(project_dir),
            profiles_dir=str(profiles_dir),
            target=self.target,
            profile=self.profile,
            dbt_executable=dbt_executable(),
            global_config_flags=list(DBT_QUIET_FLAGS),
        )
        cli_args = list(self.cli_args)

        @dbt_assets(
            manifest=manifest,
            project=project,
            select=self.select,
            exclude=self.exclude,
            dagster_dbt_translator=translator,
            name=_op_name(project_dir),
        )
        def _dbt_assets(context: AssetExecutionContext) -> Iterator[Any]:
            yield from resource.cli(cli_args, context=context).stream()

        return dg.Definitions(assets=[_dbt_assets])

    def _classifications(self, root: Path) -> Mapping[str, Mapping[str, Mapping[str, Any]]]:
        if not self.artifacts or not (root / self.artifacts).exists():
            return {}
        contract = load_artifacts(root / self.artifacts)
        return {
            model: {column: value.model_dump() for column, value in columns.items()}
            for model, columns in (contract.column_classifications or {}).items()
        }


def _op_name(project_dir: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", project_dir.name) or "dbt"
    return f"dbt_{name}"
