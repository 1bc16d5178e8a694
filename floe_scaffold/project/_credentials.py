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
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from floe_scaffold._bounded import MAX_PROJECT_FILE, read_bounded
from floe_scaffold.errors import EXIT_INVALID_INPUT, FloeError
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
# env_var('NAME') or env_var("NAME", 'default'): a comma after the name means a default.
_ENV_VAR = re.compile(r"""env_var\(\s*(['"])(?P<name>[^'"]+)\1\s*(?P<default>,)?""")


@dataclass(frozen=True)
class ProfileOutput:
    """The profile output a component's dbt runs use, and where it was read from."""

    project_dir: Path
    profiles_file: Path
    profile: str
    target: str
    output: Mapping[str, Any]
    #: The component's ``cli_args`` (the dbt command and its flags), when plain strings.
    cli_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class MissingVariable:
    """An environment variable the output reads with no default, and the key that reads it."""

    name: str
    key: str
    where: ProfileOutput


class MissingCredentialsError(FloeError):
    """Variables the profile output reads are unset (exit 1); each is named with its key."""

    exit_code = EXIT_INVALID_INPUT

    def __init__(self, missing: Sequence[MissingVariable]) -> None:
        self.missing = tuple(missing)
        names = list(dict.fromkeys(variable.name for variable in self.missing))
        count = len(names)
        noun, verb = ("variable", "is") if count == 1 else ("variables", "are")
        super().__init__(
            f"{count} environment {noun} that the dbt profile reads {verb} not set, so dbt was "
            "not started"
        )

    def lines(self) -> list[str]:
        shown = []
        for variable in self.missing:
            where = variable.where
            shown.append(
                f"{variable.name}: read by `{variable.key}` of profile {where.profile}, "
                f"target {where.target}, in {where.profiles_file}"
            )
        names = list(dict.fromkeys(variable.name for variable in self.missing))
        exports = " ".join(f"{name}=..." for name in names)
        fix = f"fix: export {exports} (the values your secrets hold), then run again"
        return [self.message, *shown, fix]


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


def missing_variables(where: ProfileOutput, environ: Mapping[str, str]) -> list[MissingVariable]:
    """The variables ``where.output`` reads without a default that ``environ`` lacks."""
    found: dict[str, MissingVariable] = {}
    for key, text in _strings(where.output, ""):
        for match in _ENV_VAR.finditer(text):
            name = match["name"]
            if match["default"] is None and name not in environ and name not in found:
                found[name] = MissingVariable(name, key, where)
    return list(found.values())


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
    dbt_project = _plain(attributes.get("dbt_project", "dbt"))
    profiles_dir = _plain(attributes.get("profiles_dir", ".floe/profiles"))
    if dbt_project is None or profiles_dir is None:
        return None
    profiles_file = root / profiles_dir / "profiles.yml"
    profile = _plain(attributes.get("profile")) or _project_profile(root / dbt_project)
    profiles = _load(profiles_file)
    entry = profiles.get(profile) if profile and isinstance(profiles, Mapping) else None
    if not isinstance(entry, Mapping) or profile is None:
        return None
    target = _plain(attributes.get("target")) or _plain(entry.get("target"))
    outputs = entry.get("outputs")
    output = outputs.get(target) if target and isinstance(outputs, Mapping) else None
    if not isinstance(output, Mapping) or target is None:
        return None
    cli_args = attributes.get("cli_args")
    plain_args = (
        tuple(cli_args)
        if isinstance(cli_args, list) and all(isinstance(arg, str) for arg in cli_args)
        else ()
    )
    return ProfileOutput(root / dbt_project, profiles_file, profile, target, output, plain_args)


def _plain(value: object) -> str | None:
    """``value`` if it is a string without Jinja (which only dbt or Dagster can evaluate)."""
    if isinstance(value, str) and value and "{{" not in value and "{%" not in value:
        return value
    return None


def _project_profile(project_dir: Path) -> str | None:
    loaded = _load(project_dir / "dbt_project.yml")
    return _plain(loaded.get("profile")) if isinstance(loaded, Mapping) else None


def _load(path: Path) -> Any:
    try:
        return yaml.safe_load(read_bounded(path, MAX_PROJECT_FILE).decode("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None


def _strings(value: object, key: str) -> Iterator[tuple[str, str]]:
    """Every string in ``value`` with its dotted key (``password``, ``extensions.0``)."""
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, Mapping):
        for name, item in value.items():
            yield from _strings(item, f"{key}.{name}" if key else str(name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{key}.{index}" if key else str(index))
