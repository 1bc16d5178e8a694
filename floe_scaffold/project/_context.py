"""The render context: every value the template substitutes, computed once in Python.

The context is passed to copier as the single recorded answer ``floe``, so a later update can
replay the old render exactly from the answers file (no logic, extensions or tasks in the
template).
"""

from __future__ import annotations

import json
import posixpath
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from floe_scaffold._bounded import MAX_PROJECT_FILE, read_bounded
from floe_scaffold.contract import CompiledArtifacts
from floe_scaffold.errors import Issue, ProfileError
from floe_scaffold.profiles import (
    BuiltProfile,
    Environment,
    build_profile,
    default_environment_name,
    render_profiles_yaml,
    warehouse_for,
)
from floe_scaffold.project._ci import ci_env_json
from floe_scaffold.project._deploy import (
    CHART_VERSION,
    CODE_SERVER_PORT,
    IMAGE_USER,
    app_dir_of,
    plan_deploy,
)
from floe_scaffold.project._names import ProjectNames

__all__ = [
    "CONTEXT_FORMAT",
    "RenderContext",
    "build_context",
    "dbt_dir_of",
    "existing_dbt_project",
    "profile_name_of",
    "profiles_dir_of",
]

#: The version of the render context's shape. Bump it (and the number in ``copier.yml``'s
#: ``floe`` validator, which tests compare) whenever the template starts using a value that an
#: earlier context lacked, or a value changes meaning: a plain ``copier update`` can only replay
#: the recorded context, so the template refuses one of another format before it changes any
#: file, and names ``floe update``, which recomputes it.
CONTEXT_FORMAT = 1

_JINJA = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")
_COMPONENT_TYPE = "floe_scaffold.components.FloeDbtProject"


class RenderContext(BaseModel):
    """What the template substitutes; one field per value, nothing derived in Jinja."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    context_format: int  # CONTEXT_FORMAT: checked by copier.yml before anything is rendered
    project_name: str
    package: str
    target: str
    adapter_package: str
    environment: str
    dbt_dir: str
    dbt_dir_literal: str  # a Python string literal of dbt_dir (JSON's escapes are Python's too)
    profiles_dir: str
    starter_dbt: bool
    runs_locally: bool
    artifacts_json: str
    profiles_yml: str
    defs_yaml: str
    dbt_project_yml: str
    env_vars_markdown: str
    ci_env_json: str  # the CI job's env: the profile's variables from GitHub (project/_ci.py)
    toml_name: str
    toml_description: str
    toml_adapter: str
    # deploy files (project/_deploy.py): the chart entry, the Secret example, the image
    deploy_name: str
    chart_version: str
    toml_code_location_name: str
    deploy_values_yaml: str
    deploy_secret_yaml: str
    deploy_secret_name: str
    image_app_dir: str
    image_prepare: str
    image_writable_dirs: str
    image_user: int
    image_port: int


def _dbt_dir_field(artifacts: CompiledArtifacts) -> tuple[str, str]:
    """The contract field that places the dbt project, and its value."""
    if artifacts.dbt_project_path:
        return "dbt_project_path", artifacts.dbt_project_path
    if artifacts.transforms:
        return "transforms.0.path", artifacts.transforms[0].path
    return "dbt_project_path", "dbt"


def dbt_dir_of(artifacts: CompiledArtifacts) -> str:
    """Where the dbt project lives, relative to the project root (normalized, POSIX)."""
    return posixpath.normpath(_dbt_dir_field(artifacts)[1].replace("\\", "/"))


def profiles_dir_of(artifacts: CompiledArtifacts) -> str:
    """Where ``profiles.yml`` lives, relative to the project root (normalized, POSIX)."""
    return posixpath.normpath(artifacts.dbt_profiles_path.replace("\\", "/"))


def existing_dbt_project(dest: Path, dbt_dir: str) -> dict[str, Any] | None:
    """The ``dbt_project.yml`` of a dbt project already at ``dest/dbt_dir``, if there is one."""
    path = dest / dbt_dir / "dbt_project.yml"
    if not path.is_file():
        return None
    loaded = yaml.safe_load(read_bounded(path, MAX_PROJECT_FILE).decode("utf-8"))
    return loaded if isinstance(loaded, dict) else {}


def profile_name_of(existing: dict[str, Any] | None) -> str:
    """The dbt profile name: an existing project's ``profile:``, else ``floe``."""
    return str((existing or {}).get("profile") or "floe")


def build_context(
    artifacts: CompiledArtifacts,
    artifacts_text: str,
    names: ProjectNames,
    *,
    profile_name: str,
    starter_dbt: bool,
) -> RenderContext:
    """Compute the render context; raises ProfileError (with field paths) on unusable input.

    The context depends on the contract, the names and floe's code only, never on the template
    version: the template carries its own release pin, so a plain ``copier update`` with the
    recorded context gives what ``floe update`` gives.
    """
    dbt_dir = dbt_dir_of(artifacts)
    profiles_dir = profiles_dir_of(artifacts)
    _check_paths({_dbt_dir_field(artifacts)[0]: dbt_dir, "dbt_profiles_path": profiles_dir})
    environment = default_environment_name(artifacts)
    profile = build_profile([Environment(environment, artifacts)], profile_name=profile_name)
    warehouse = warehouse_for(artifacts.compute.target)
    deploy = plan_deploy(
        artifacts,
        profile,
        distribution=names.distribution,
        package=names.package,
        environment=environment,
        dbt_dir=dbt_dir,
    )
    return RenderContext(
        context_format=CONTEXT_FORMAT,
        project_name=names.distribution,
        package=names.package,
        target=artifacts.compute.target,
        adapter_package=warehouse.adapter_package,
        environment=environment,
        dbt_dir=dbt_dir,
        dbt_dir_literal=json.dumps(dbt_dir),
        profiles_dir=profiles_dir,
        starter_dbt=starter_dbt,
        runs_locally=artifacts.compute.target == "duckdb",
        artifacts_json=artifacts_text,
        profiles_yml=render_profiles_yaml(
            profile,
            regenerate="floe update (or: floe profiles .floe/compiled_artifacts.json)",
        ),
        defs_yaml=_defs_yaml(dbt_dir, profiles_dir, environment, profile_name),
        dbt_project_yml=_starter_dbt_project_yml(names.package, profile_name),
        env_vars_markdown=_env_vars_markdown(profile),
        ci_env_json=ci_env_json(profile),
        toml_name=json.dumps(names.distribution),
        toml_description=json.dumps(
            f"Dagster + dbt on {artifacts.compute.target}, generated by floe-scaffold"
        ),
        toml_adapter=json.dumps(warehouse.adapter_package),
        deploy_name=deploy.name,
        chart_version=CHART_VERSION,
        toml_code_location_name=json.dumps(deploy.name),
        deploy_values_yaml=deploy.values_yaml,
        deploy_secret_yaml=deploy.secret_example_yaml,
        deploy_secret_name=deploy.secret_name,
        image_app_dir=app_dir_of(names.distribution),
        image_prepare=deploy.prepare_command,
        image_writable_dirs=deploy.writable_dirs,
        image_user=IMAGE_USER,
        image_port=CODE_SERVER_PORT,
    )


#: Files the template writes outside the dbt and profiles directories (and git's own).
_FLOE_FILES = (
    ".copier-answers.yml",
    ".dockerignore",
    ".github/workflows/ci.yml",
    "Dockerfile",
    "deploy",
    ".floe/compiled_artifacts.json",
    ".git",
    ".gitignore",
    "README.md",
    "pyproject.toml",
    "tests/test_definitions.py",
)


def _check_paths(paths: dict[str, str]) -> None:
    """Refuse directories that hold Jinja or that would be one of floe's files (or inside it)."""
    issues = []
    for field, value in paths.items():
        if _JINJA.search(value):
            issues.append(Issue(field, f"{value!r} contains a Jinja delimiter; use a plain path"))
            continue
        owned = next(
            (name for name in _FLOE_FILES if value == name or value.startswith(f"{name}/")), None
        )
        if owned is not None:
            issues.append(
                Issue(
                    field,
                    f"{value!r} would put a directory where floe writes {owned}; choose another "
                    "directory",
                )
            )
    if issues:
        raise ProfileError(issues)


def _dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=1_000_000)


def _defs_yaml(dbt_dir: str, profiles_dir: str, environment: str, profile: str) -> str:
    header = (
        "# The floe component: every dbt model and seed of the dbt project as a Dagster asset.\n"
        "# Paths are relative to the project root; `dg list components` describes attributes.\n"
    )
    return header + _dump(
        {
            "type": _COMPONENT_TYPE,
            "attributes": {
                "dbt_project": dbt_dir,
                "profiles_dir": profiles_dir,
                "target": environment,
                "profile": profile,
                "artifacts": ".floe/compiled_artifacts.json",
            },
        }
    )


def _starter_dbt_project_yml(package: str, profile: str) -> str:
    return _dump(
        {
            "name": package,
            "version": "1.0.0",
            "profile": profile,
            "model-paths": ["models"],
            "seed-paths": ["seeds"],
            "test-paths": ["tests"],
            "macro-paths": ["macros"],
            "clean-targets": ["target", "dbt_packages"],
            # A run makes no network call: dbt's anonymous usage statistics are off.
            "flags": {"send_anonymous_usage_stats": False},
            "models": {
                package: {
                    "staging": {"+materialized": "view"},
                    "intermediate": {"+materialized": "ephemeral"},
                    "marts": {"+materialized": "table"},
                }
            },
        }
    )


def _env_vars_markdown(profile: BuiltProfile) -> str:
    if not profile.env_vars:
        return "None: this target needs no credentials."
    rows = ["| variable | what | kind |", "|---|---|---|"]
    for environment, var in profile.env_vars:
        kind = "secret" if var.secret else "setting"
        if not var.required:
            kind += " (optional)"
        rows.append(f"| `{var.name}` | `{var.key}` of the `{environment}` output | {kind} |")
    return "Set these before running (dbt reads them with `env_var()`):\n\n" + "\n".join(rows)
