"""The environment variables a dbt profile output reads, and which of them are unset.

``dbt parse`` keeps ``{{ env_var('X') }}`` as text, so an unset variable surfaces only when dbt
connects, after a parse and a run start; and a ``password`` dbt cannot render is kept as the raw
text and sent to the warehouse (dbt's ``SecretRenderer``), so a missing password variable shows
as a failed login that does not name it. ``floe run`` checks before dbt starts
(``project/_credentials.py``), and so does the component's dbt step, for runs launched from the
UI, a schedule or a Kubernetes run worker: both read the references from the output itself, as
dbt will evaluate them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from floe_scaffold._bounded import MAX_PROJECT_FILE, read_bounded
from floe_scaffold.errors import EXIT_INVALID_INPUT, FloeError

__all__ = [
    "MissingCredentialsError",
    "MissingVariable",
    "ProfileOutput",
    "missing_variables",
    "plain_value",
    "resolve_output",
]

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


def missing_variables(where: ProfileOutput, environ: Mapping[str, str]) -> list[MissingVariable]:
    """The variables ``where.output`` reads without a default that ``environ`` lacks."""
    found: dict[str, MissingVariable] = {}
    for key, text in _strings(where.output, ""):
        for match in _ENV_VAR.finditer(text):
            name = match["name"]
            if match["default"] is None and name not in environ and name not in found:
                found[name] = MissingVariable(name, key, where)
    return list(found.values())


def resolve_output(
    project_dir: Path,
    profiles_file: Path,
    profile: str | None,
    target: str | None,
    cli_args: tuple[str, ...] = (),
) -> ProfileOutput | None:
    """The profile output dbt will use, or None where it cannot be resolved.

    ``profile`` else the dbt project's, ``target`` else the profile's default, read from
    ``profiles_file``. A templated value or a missing file gives None: dbt reports it itself.
    """
    profile = profile or _project_profile(project_dir)
    profiles = _load(profiles_file)
    entry = profiles.get(profile) if profile and isinstance(profiles, Mapping) else None
    if not isinstance(entry, Mapping) or profile is None:
        return None
    target = target or plain_value(entry.get("target"))
    outputs = entry.get("outputs")
    output = outputs.get(target) if target and isinstance(outputs, Mapping) else None
    if not isinstance(output, Mapping) or target is None:
        return None
    return ProfileOutput(project_dir, profiles_file, profile, target, output, cli_args)


def plain_value(value: object) -> str | None:
    """``value`` if it is a string without Jinja (which only dbt or Dagster can evaluate)."""
    if isinstance(value, str) and value and "{{" not in value and "{%" not in value:
        return value
    return None


def _project_profile(project_dir: Path) -> str | None:
    loaded = _load(project_dir / "dbt_project.yml")
    return plain_value(loaded.get("profile")) if isinstance(loaded, Mapping) else None


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
