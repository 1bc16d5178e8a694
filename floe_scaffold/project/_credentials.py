"""Before dbt starts: a check that the variables the dbt profile output reads are set.

``dbt parse`` keeps ``{{ env_var('X') }}`` as text, so an unset password surfaces only when dbt
connects, after a parse and a run start. ``floe run`` checks first: for each floe component of
the project (its ``defs.yaml``), the profile output it will use (``profile`` and ``target`` of
the component, else the dbt project's profile and the profile's default target), and in it
every ``env_var('X')`` without a default.

The references are read from the output itself, not from the ``# needs`` comments floe writes
above it: they are what dbt will evaluate, also in a profile edited or written by hand. A
component, profile or output this check cannot resolve (a templated value, a missing file) is
left to dbt, which reports it with its own message.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from floe_scaffold._bounded import MAX_PROJECT_FILE, read_bounded
from floe_scaffold._profile_vars import (
    MissingCredentialsError,
    MissingVariable,
    ProfileOutput,
    missing_variables,
    plain_value,
    resolve_output,
)
from floe_scaffold.project._locate import ProjectLayout

__all__ = [
    "COMPONENT_TYPE",
    "MissingCredentialsError",
    "MissingVariable",
    "ProfileOutput",
    "check_credentials",
    "missing_variables",
    "profile_outputs",
]

COMPONENT_TYPE = "floe_scaffold.components.FloeDbtProject"


def check_credentials(
    layout: ProjectLayout,
    environ: Mapping[str, str] | None = None,
    *,
    outputs: Sequence[ProfileOutput] | None = None,
) -> None:
    """Raise :class:`MissingCredentialsError` if a variable the run's dbt needs is unset.

    ``outputs`` are the project's :func:`profile_outputs`, when the caller has them already.
    """
    environment = os.environ if environ is None else environ
    missing = [
        variable
        for where in (profile_outputs(layout) if outputs is None else outputs)
        for variable in missing_variables(where, environment)
    ]
    if missing:
        raise MissingCredentialsError(missing)


def profile_outputs(layout: ProjectLayout) -> list[ProfileOutput]:
    """The profile output of each floe component of the project that can be resolved."""
    defs_dir = layout.source_dir / layout.package / "defs"
    outputs = []
    for defs_yaml in sorted(defs_dir.rglob("defs.yaml")) if defs_dir.is_dir() else []:
        for attributes in _components(defs_yaml):
            output = _output(layout.root, attributes)
            if output is not None:
                outputs.append(output)
    return outputs


def _components(defs_yaml: Path) -> Iterator[Mapping[str, Any]]:
    try:
        documents = list(
            yaml.safe_load_all(read_bounded(defs_yaml, MAX_PROJECT_FILE).decode("utf-8"))
        )
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return  # Dagster reports it when it loads the definitions
    for document in documents:
        if isinstance(document, Mapping) and document.get("type") == COMPONENT_TYPE:
            attributes = document.get("attributes") or {}
            if isinstance(attributes, Mapping):
                yield attributes


def _output(root: Path, attributes: Mapping[str, Any]) -> ProfileOutput | None:
    dbt_project = plain_value(attributes.get("dbt_project", "dbt"))
    profiles_dir = plain_value(attributes.get("profiles_dir", ".floe/profiles"))
    if dbt_project is None or profiles_dir is None:
        return None
    cli_args = attributes.get("cli_args")
    plain_args = (
        tuple(cli_args)
        if isinstance(cli_args, list) and all(isinstance(arg, str) for arg in cli_args)
        else ()
    )
    return resolve_output(
        root / dbt_project,
        root / profiles_dir / "profiles.yml",
        plain_value(attributes.get("profile")),
        plain_value(attributes.get("target")),
        plain_args,
    )
