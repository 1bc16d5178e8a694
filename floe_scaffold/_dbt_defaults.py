"""dbt's ``--profile``/``--target`` flags, given only when they differ from the project's defaults.

dbt keeps its partial-parse state (``target/partial_parse.msgpack``) valid only while the
*flags* it was called with stay the same: ``dbt build --target dev`` after ``dbt build`` throws
the state away (``UnableToPartialParse: config vars, config profile, or config target have
changed``) and re-parses the whole project, even when ``dev`` is the profile's own default. So
floe passes a profile or target only when it is not the one dbt would pick anyway, and a user's
own ``dbt build`` and ``floe run`` (or ``dg``, ``dagster dev``) keep sharing one parse.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from floe_scaffold._bounded import read_config_text

__all__ = ["without_defaults"]


def without_defaults(
    project_dir: Path | str,
    profiles_dir: Path | str | None,
    profile: str | None,
    target: str | None,
) -> tuple[str | None, str | None]:
    """``(profile, target)``, each ``None`` where it is what dbt would use without the flag.

    The default profile is ``profile:`` of ``dbt_project.yml``; the default target is
    ``target:`` of that profile in ``profiles.yml``. A file that cannot be read (or a
    ``profile``/``target`` that is not a plain string there, such as an ``env_var`` template)
    leaves the flags as given: passing a flag is always correct, only slower. So does
    ``DBT_PROFILE``/``DBT_TARGET`` in the environment, which dbt reads as the flag itself.
    """
    if os.environ.get("DBT_PROFILE") or os.environ.get("DBT_TARGET"):
        return profile, target
    default_profile = _key(Path(project_dir) / "dbt_project.yml", ("profile",))
    if profile is not None and profile == default_profile:
        profile = None
    if target is not None and profiles_dir is not None:
        name = profile or default_profile
        if name is not None:
            default_target = _key(Path(profiles_dir) / "profiles.yml", (name, "target"))
            if target == default_target:
                target = None
    return profile, target


def _key(path: Path, keys: tuple[str, ...]) -> str | None:
    """The plain string at ``keys`` in the YAML file ``path``, else None."""
    try:
        value: object = yaml.safe_load(read_config_text(path))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    if not isinstance(value, str) or "{{" in value:
        return None
    return value
