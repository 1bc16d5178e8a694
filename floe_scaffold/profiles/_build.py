"""From contracts to one dbt profile: outputs per environment, and the variables they read."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from floe_scaffold.contract import CompiledArtifacts
from floe_scaffold.errors import Issue, ProfileError
from floe_scaffold.profiles._naming import EnvVarNaming, env_var_prefix
from floe_scaffold.profiles._properties import EnvVar, Json, PropertyReader
from floe_scaffold.profiles._registry import warehouse_for

__all__ = [
    "DEFAULT_ENVIRONMENT",
    "DEFAULT_PROFILE_NAME",
    "BuiltProfile",
    "Environment",
    "build_profile",
]

DEFAULT_PROFILE_NAME = "floe"
DEFAULT_ENVIRONMENT = "dev"
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


@dataclass(frozen=True)
class Environment:
    """One output of the profile: a dbt target name and the contract it is built from.

    ``explicit`` environments (named with ``--env``) put their name into every variable name, so
    that one profile can hold several environments without their credentials colliding.
    """

    name: str
    artifacts: CompiledArtifacts
    explicit: bool = False


@dataclass(frozen=True)
class BuiltProfile:
    """A dbt profile: its name, default target, outputs, and the variables they read."""

    name: str
    target: str
    outputs: dict[str, dict[str, Json]]
    env_vars: tuple[tuple[str, EnvVar], ...]

    def as_dict(self) -> dict[str, Json]:
        """The mapping dbt reads from ``profiles.yml``."""
        outputs: dict[str, Json] = dict(self.outputs.items())
        return {self.name: {"target": self.target, "outputs": outputs}}


def default_environment_name(artifacts: CompiledArtifacts) -> str:
    """The target name when none is asked for: the first transform's ``target``, else ``dev``."""
    for transform in artifacts.transforms:
        if transform.target:
            return transform.target
    return DEFAULT_ENVIRONMENT


def build_profile(
    environments: Sequence[Environment], *, profile_name: str = DEFAULT_PROFILE_NAME
) -> BuiltProfile:
    """Build one profile with an output per environment; the first one is the default target.

    Raises:
        ProfileError: a name is invalid, two environments share a name, or a property is
            wrong (all problems are reported at once, each with its field path).

    """
    issues: list[Issue] = []
    if not _NAME.fullmatch(profile_name):
        issues.append(Issue("profile", _name_rule(profile_name, "profile name")))
    if not environments:
        issues.append(Issue("environments", "at least one environment is needed"))
    outputs: dict[str, dict[str, Json]] = {}
    env_vars: list[tuple[str, EnvVar]] = []
    variable_words: dict[str, str] = {}
    for environment in environments:
        if not _NAME.fullmatch(environment.name):
            issues.append(Issue("environment", _name_rule(environment.name, "environment name")))
            continue
        if environment.name in outputs:
            issues.append(Issue("environment", f"{environment.name!r} is named twice"))
            continue
        # Variable names upper-case the environment and map '-' to '_': dev/DEV would share.
        word = environment.name.upper().replace("-", "_")
        if word in variable_words:
            issues.append(
                Issue(
                    "environment",
                    f"{environment.name!r} and {variable_words[word]!r} would read the same "
                    "environment variables; name environments so they differ in more than case "
                    "and '-'/'_'",
                )
            )
            continue
        variable_words[word] = environment.name
        output, used, problems = _build_output(environment)
        outputs[environment.name] = output
        env_vars.extend((environment.name, var) for var in used)
        issues.extend(problems)
    if issues:
        raise ProfileError(issues)
    return BuiltProfile(profile_name, environments[0].name, outputs, tuple(env_vars))


def _build_output(environment: Environment) -> tuple[dict[str, Json], list[EnvVar], list[Issue]]:
    compute = environment.artifacts.compute
    prefix = env_var_prefix(
        compute.target,
        compute.connection_secret_ref,
        environment.name if environment.explicit else None,
    )
    props = PropertyReader(compute.properties, EnvVarNaming(prefix), path="compute.properties")
    output = warehouse_for(compute.target).build_output(props)
    output.update(props.passthrough(generated=output.keys()))
    return output, props.env_vars, props.issues


def _name_rule(name: str, what: str) -> str:
    return (
        f"{name!r} is not a valid {what}: start with a letter, then letters, digits, '-' or '_' "
        "(at most 64 characters)"
    )
