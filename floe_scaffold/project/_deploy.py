"""The deploy files' values: the chart entry, the Secret example, the image's build step.

A generated project deploys as one code location of the official Dagster Helm chart's
``dagster-user-deployments`` (validated against chart 1.12.17). Everything here is computed from
the contract and the built profile, so the variable names are exactly those ``floe profiles``
prints; the YAML is made with the YAML library. Names Kubernetes would refuse are refused here,
before anything is written, with the field to change and a valid spelling.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

import yaml

from floe_scaffold.contract import CompiledArtifacts
from floe_scaffold.errors import Issue, ProjectError
from floe_scaffold.profiles import BuiltProfile

__all__ = [
    "CHART_VERSION",
    "CODE_SERVER_PORT",
    "IMAGE_USER",
    "DeployPlan",
    "app_dir_of",
    "plan_deploy",
]

#: The Dagster Helm chart release the values are validated against.
CHART_VERSION = "1.12.17"
#: The port the code server listens on (the chart's ``deployments[].port``).
CODE_SERVER_PORT = 3030
#: The image's non-root user and group id.
IMAGE_USER = 10001
#: Placeholder given to each required variable for the image's build step only.
PLACEHOLDER = "floe-build-placeholder"

_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?")
_MAX_NAME = 63
_SHORT_ENVIRONMENT = {
    "development": "dev",
    "preview": "preview",
    "staging": "staging",
    "production": "prod",
}


@dataclass(frozen=True)
class DeployPlan:
    """What the deploy files substitute: one code location of the chart."""

    name: str
    secret_name: str
    values_yaml: str
    secret_example_yaml: str
    prepare_command: str
    writable_dirs: str


def app_dir_of(project_name: str) -> str:
    """Where the project lives in the image (its name is the tracing service name's default)."""
    return f"/opt/dagster/{project_name}"


def _spelled(value: str) -> str:
    """A DNS label close to ``value``: lowercase, other characters as ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-") or "x"


def _name_parts(artifacts: CompiledArtifacts, distribution: str) -> list[tuple[str, str]]:
    """(field path, value) of each part of the chart entry's name."""
    context = artifacts.environment_context
    if context is None:
        return [("name", distribution)]
    return [
        ("environment_context.tenant_slug", context.tenant_slug),
        ("environment_context.project_slug", context.project_slug),
        ("environment_context.environment_type", _SHORT_ENVIRONMENT[context.environment_type]),
    ]


def _deployment_name(artifacts: CompiledArtifacts, distribution: str) -> str:
    """The chart entry's name: a DNS-1123 label (≤ 63) that starts with a letter, or raise.

    It becomes a Service name (DNS-1035: a letter first), a label value and the code location
    name, so every part must already be a lowercase label; nothing is silently rewritten.
    """
    parts = _name_parts(artifacts, distribution)
    issues = [
        Issue(
            path,
            f"{value!r} cannot be part of a Kubernetes name (the code location's Service and "
            "labels): use lowercase letters, digits and '-', starting and ending with a letter "
            f"or digit, e.g. {_spelled(value)!r}",
        )
        for path, value in parts
        if not _LABEL.fullmatch(value)
    ]
    if issues:
        raise ProjectError(issues)
    name = "-".join(value for _, value in parts)
    where = " + ".join(path for path, _ in parts)
    if len(name) > _MAX_NAME:
        raise ProjectError(
            [
                Issue(
                    parts[0][0] if len(parts) == 1 else "environment_context",
                    f"the code location name {name[:30]!r}... ({where}) is {len(name)} "
                    f"characters; Kubernetes names are at most {_MAX_NAME}: shorten "
                    f"{'it (--name)' if len(parts) == 1 else 'tenant_slug or project_slug'} "
                    f"by {len(name) - _MAX_NAME} or more",
                )
            ]
        )
    if not name[0].isalpha():
        raise ProjectError(
            [
                Issue(
                    parts[0][0],
                    f"{parts[0][1]!r} starts the code location name {name!r} with a digit; a "
                    "Kubernetes Service name must start with a letter: start it with one",
                )
            ]
        )
    return name


def _dump(data: object) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=1_000_000)


def _settings_env(artifacts: CompiledArtifacts) -> list[dict[str, str]]:
    """Non-secret settings for the code server and every run: endpoints, namespace, tenant."""
    observability = artifacts.observability
    env: list[dict[str, str]] = []
    lineage_on = observability.lineage and artifacts.governance.emit_lineage
    if lineage_on and observability.lineage_endpoint:
        env.append({"name": "OPENLINEAGE_URL", "value": observability.lineage_endpoint})
    if lineage_on and artifacts.lineage_namespace:
        env.append({"name": "OPENLINEAGE_NAMESPACE", "value": artifacts.lineage_namespace})
    if observability.traces and observability.otlp_endpoint:
        env.append({"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": observability.otlp_endpoint})
    attributes = dict(observability.attributes)
    context = artifacts.environment_context
    if context is not None:
        attributes.setdefault("floe.tenant_id", context.tenant_id)
        attributes.setdefault("floe.tenant_slug", context.tenant_slug)
        attributes.setdefault("floe.project_slug", context.project_slug)
        attributes.setdefault("floe.environment_type", context.environment_type)
    if attributes:
        # OTEL_RESOURCE_ATTRIBUTES: key=value pairs, comma-separated, values percent-encoded.
        pairs = ",".join(
            f"{quote(key, safe='')}={quote(value, safe='')}" for key, value in attributes.items()
        )
        env.append({"name": "OTEL_RESOURCE_ATTRIBUTES", "value": pairs})
    return env


def _labels(artifacts: CompiledArtifacts, distribution: str, environment: str) -> dict[str, str]:
    context = artifacts.environment_context
    if context is None:
        return {"floe.dev/project": distribution, "floe.dev/environment": environment}
    return {
        "floe.dev/tenant": context.tenant_slug,
        "floe.dev/project": context.project_slug,
        "floe.dev/environment": context.environment_type,
    }


def _values_yaml(
    artifacts: CompiledArtifacts,
    *,
    name: str,
    package: str,
    distribution: str,
    environment: str,
    secret_name: str,
) -> str:
    entry = {
        "name": name,
        "image": {
            "repository": f"registry.example.com/{name}",
            "tag": "0.1.0",
            "pullPolicy": "IfNotPresent",
        },
        "codeServerArgs": [
            *("--location-name", name),
            *("-m", f"{package}.definitions"),
            *("-d", app_dir_of(distribution)),
        ],
        "port": CODE_SERVER_PORT,
        "envSecrets": [{"name": secret_name}],
        "env": _settings_env(artifacts),
        "labels": _labels(artifacts, distribution, environment),
        "resources": {
            "requests": {"cpu": "250m", "memory": "512Mi"},
            "limits": {"memory": "2Gi"},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": IMAGE_USER,
            "allowPrivilegeEscalation": False,
        },
        "includeConfigInLaunchedRuns": {"enabled": True},
    }
    header = (
        f"# Values for the dagster-user-deployments chart (Dagster Helm chart {CHART_VERSION}):\n"
        f"# one code location, {name!r}. Yours to edit; `floe update` merges template changes.\n"
        "# image: set repository and tag to what you pushed (README, Deploy). envSecrets: the\n"
        "# Secret of deploy/secret.example.yaml, given to the code server and, with\n"
        "# includeConfigInLaunchedRuns, to every run pod. env: non-secret settings.\n"
    )
    return header + _dump({"deployments": [entry]})


def _secret_example_yaml(name: str, secret_name: str, keys: Sequence[str]) -> str:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": secret_name, "labels": {"floe.dev/code-location": name}},
        "type": "Opaque",
        "stringData": dict.fromkeys(keys, ""),
    }
    header = (
        "# The Secret the code location reads its warehouse credentials from (envFrom): one key\n"
        "# per variable the dbt profile reads, exactly the names `floe profiles` prints. Never\n"
        "# commit values: copy this file outside the repository, fill it in, `kubectl apply` it.\n"
    )
    if not keys:
        header += "# This target reads no variables: the Secret is empty until you add keys.\n"
    return header + _dump(secret)


def _prepare_command(profile: BuiltProfile, package: str) -> str:
    """The build step that makes the manifest, with placeholders for required variables."""
    required = sorted({var.name for _, var in profile.env_vars if var.required})
    assignments = [f"{variable}={PLACEHOLDER}" for variable in required]
    command = ["dagster", "definitions", "validate", "-m", f"{package}.definitions"]
    return " ".join([*assignments, *(shlex.quote(word) for word in command)])


def plan_deploy(
    artifacts: CompiledArtifacts,
    profile: BuiltProfile,
    *,
    distribution: str,
    package: str,
    environment: str,
    dbt_dir: str,
) -> DeployPlan:
    """Everything the deploy files substitute; raises ProjectError for names Kubernetes refuses."""
    name = _deployment_name(artifacts, distribution)
    secret_name = artifacts.compute.connection_secret_ref or f"{name}-credentials"
    keys = sorted({var.name for _, var in profile.env_vars})
    writable = [f"{dbt_dir}/target", f"{dbt_dir}/logs"]
    duckdb_dir = _duckdb_dir(profile, environment, dbt_dir)
    if duckdb_dir is not None and duckdb_dir not in writable:
        writable.append(duckdb_dir)
    observability = artifacts.observability
    lineage_on = observability.lineage and artifacts.governance.emit_lineage
    if lineage_on and not observability.lineage_endpoint:
        # With no endpoint, lineage is a JSON Lines file in the project (lineage/_config.py).
        writable.append(".floe/lineage")
    return DeployPlan(
        name=name,
        secret_name=secret_name,
        values_yaml=_values_yaml(
            artifacts,
            name=name,
            package=package,
            distribution=distribution,
            environment=environment,
            secret_name=secret_name,
        ),
        secret_example_yaml=_secret_example_yaml(name, secret_name, keys),
        prepare_command=_prepare_command(profile, package),
        writable_dirs=" ".join(shlex.quote(path) for path in writable),
    )


def _duckdb_dir(profile: BuiltProfile, environment: str, dbt_dir: str) -> str | None:
    """The folder of a DuckDB file inside the project (dbt resolves it from the dbt project)."""
    output = profile.outputs.get(environment, {})
    path = output.get("path")
    if output.get("type") != "duckdb" or not isinstance(path, str):
        return None
    if path.startswith(("/", "md:", "motherduck:", "s3:", "gs:", "http")) or path == ":memory:":
        return None
    folder = posixpath.dirname(path.replace("\\", "/"))
    joined = posixpath.normpath(posixpath.join(dbt_dir, folder))
    return None if joined.startswith("..") else joined
