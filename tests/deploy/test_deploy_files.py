"""Issue 14: every generated project deploys with the official Dagster Helm chart.

No cluster and no registry: the generated Dockerfile passes hadolint, the values validate
against the chart's own ``values.schema.json`` (chart 1.12.17), the chart renders with them,
every rendered manifest validates against the Kubernetes API schemas, and the Secret named in
the contract reaches both the code server and the container context handed to runs.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from helm_python import Chart

from floe_scaffold.project._deploy import CHART_VERSION as FLOE_CHART_VERSION
from tests.deploy.chart import (
    CHART_DIR,
    CHART_VERSION,
    POSTGRES_SCHEME,
    of_kind,
    offline_chart,
    render,
    validate_manifest,
)
from tests.deploy.conftest import ACME, load_yaml, render_project, secret_ref, target_contract
from tests.helpers import (
    GOLDEN_DIR,
    GOLDEN_PATHS,
    TARGETS,
    FloeRunner,
    build_contract,
    contract_for,
    docs_page,
)
from tests.helpers import tree_snapshot as snapshot
from tests.project.conftest import quiet_env

BIN = Path(sys.executable).parent
DEPLOY_FILES = ("Dockerfile", ".dockerignore", "deploy/values.yaml", "deploy/secret.example.yaml")


def _entry(project: Path) -> dict[str, Any]:
    (entry,) = load_yaml(project / "deploy" / "values.yaml")["deployments"]
    assert isinstance(entry, dict)
    return entry


def _code_server(manifests: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (deployment,) = [
        item
        for item in of_kind(manifests, "Deployment")
        if item["metadata"]["labels"]["deployment"] == name
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def _container_context(container: dict[str, Any]) -> dict[str, Any]:
    (value,) = [
        var["value"] for var in container["env"] if var["name"] == "DAGSTER_CONTAINER_CONTEXT"
    ]
    context = json.loads(value)
    assert isinstance(context, dict)
    return context


def test_the_values_name_the_chart_release_they_were_validated_against() -> None:
    assert FLOE_CHART_VERSION == CHART_VERSION


@pytest.mark.parametrize("target", TARGETS)
def test_hadolint_passes_on_the_generated_dockerfile(
    target_projects: dict[str, Path], target: str
) -> None:
    project = target_projects[target]
    for name in DEPLOY_FILES:
        assert (project / name).is_file(), name
    done = subprocess.run(
        [str(BIN / "hadolint"), "--no-color", "Dockerfile"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("target", TARGETS)
def test_the_chart_renders_the_values_into_valid_manifests_wired_to_the_secret(
    target_projects: dict[str, Path], chart: Chart, target: str
) -> None:
    from dagster_k8s.container_context import K8sContainerContext

    project = target_projects[target]
    entry = _entry(project)
    assert entry["name"] == "acme-shop-prod"
    assert entry["envSecrets"] == [{"name": secret_ref(target)}]
    assert entry["includeConfigInLaunchedRuns"] == {"enabled": True}
    assert entry["labels"] == {
        "floe.dev/tenant": "acme",
        "floe.dev/project": "shop",
        "floe.dev/environment": "production",
    }

    manifests = render(chart, load_yaml(project / "deploy" / "values.yaml"))

    for manifest in [*manifests, load_yaml(project / "deploy" / "secret.example.yaml")]:
        validate_manifest(manifest)
    (service,) = of_kind(manifests, "Service")
    assert service["metadata"]["name"] == entry["name"]
    container = _code_server(manifests, entry["name"])
    assert {"secretRef": {"name": secret_ref(target)}} in container["envFrom"]
    assert container["args"][:3] == ["dagster", "code-server", "start"]
    settings = {var["name"]: var.get("value") for var in container["env"]}
    assert settings["OPENLINEAGE_URL"] == "http://marquez.observability:5000"
    assert settings["OPENLINEAGE_NAMESPACE"] == "acme-shop"
    assert settings["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector.observability:4317"
    assert "team=data%2C%20platform" in settings["OTEL_RESOURCE_ATTRIBUTES"]
    assert "floe.tenant_slug=acme" in settings["OTEL_RESOURCE_ATTRIBUTES"]
    # The container context the chart hands to every run pod names the same Secret, and
    # dagster-k8s (which merges it into run and step pods) accepts it.
    context = _container_context(container)
    assert context["k8s"]["env_secrets"] == [secret_ref(target)]
    parsed = K8sContainerContext.create_from_config(context)
    run_container = parsed.run_k8s_config.container_config
    assert {"secret_ref": {"name": secret_ref(target)}} in run_container["env_from"]
    assert {var["name"] for var in context["k8s"]["env"]} >= {"OPENLINEAGE_URL"}


def _printed_variables(floe: FloeRunner, project: Path, tmp_path: Path) -> list[str]:
    result = floe("profiles", project / ".floe" / "compiled_artifacts.json", "--out", tmp_path)
    assert result.exit_code == 0, result.stderr
    match = re.search(r"^set before running dbt: (.+)$", result.stdout, re.MULTILINE)
    return sorted(match.group(1).split(", ")) if match else []


@pytest.mark.parametrize("target", TARGETS)
def test_the_secret_example_has_exactly_the_variables_floe_profiles_prints(
    target_projects: dict[str, Path], floe: FloeRunner, tmp_path: Path, target: str
) -> None:
    project = target_projects[target]
    secret = load_yaml(project / "deploy" / "secret.example.yaml")
    assert secret["metadata"]["name"] == secret_ref(target)
    printed = _printed_variables(floe, project, tmp_path)
    assert sorted(secret["stringData"]) == printed
    assert set(secret["stringData"].values()) <= {""}, "never a value"
    if target in {"postgres", "snowflake", "redshift", "databricks"}:
        assert printed, "these warehouses read credentials"


@pytest.mark.parametrize("target", TARGETS)
def test_placeholders_reach_only_the_build_step_and_the_pyproject_names_the_location(
    target_projects: dict[str, Path], target: str
) -> None:
    project = target_projects[target]
    secret = load_yaml(project / "deploy" / "secret.example.yaml")
    dockerfile = (project / "Dockerfile").read_text(encoding="utf-8")
    build, final = re.split(r"^FROM \$\{BASE_IMAGE\}.*$", dockerfile, flags=re.MULTILINE)[1:]
    for variable in secret["stringData"]:
        assert variable not in final, f"{variable} in the final image's instructions"
        for line in build.splitlines():
            if variable in line:
                assert line.startswith("RUN "), f"{variable} outside the build step: {line}"
    assert re.search(r"^USER 10001:10001$", final, re.MULTILINE)
    assert "ARG BASE_IMAGE=python:3.11-slim-bookworm" in dockerfile
    pyproject = (project / "pyproject.toml").read_text(encoding="utf-8")
    assert 'code_location_name = "acme-shop-prod"' in pyproject
    assert 'deploy = ["dagster-k8s", "dagster-postgres"]' in pyproject


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
def test_the_build_step_makes_the_manifest_with_placeholders_alone(
    target_projects: dict[str, Path], target: str, tmp_path: Path
) -> None:
    """What the image's build step runs, run here: definitions load and dbt parses."""
    import shutil

    project = tmp_path / "project"
    shutil.copytree(target_projects[target], project)
    dockerfile = (project / "Dockerfile").read_text(encoding="utf-8")
    (step,) = re.findall(
        r"^RUN ((?:.* )?dagster definitions validate .*)$", dockerfile, re.MULTILINE
    )
    secret = load_yaml(project / "deploy" / "secret.example.yaml")
    env = {k: v for k, v in quiet_env().items() if k not in secret["stringData"]}
    env["PATH"] = f"{BIN}:{env['PATH']}"
    env["PYTHONPATH"] = str(project / "src")
    done = subprocess.run(
        ["sh", "-c", step],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (project / "dbt" / "target" / "manifest.json").is_file()


@pytest.mark.parametrize("path", [*GOLDEN_PATHS, None], ids=lambda p: p.stem if p else "demo")
def test_golden_and_demo_contracts_get_deploy_files_the_chart_accepts(
    path: Path | None, chart: Chart, tmp_path: Path
) -> None:
    contract = json.loads(path.read_text(encoding="utf-8")) if path else None
    dest = tmp_path / "analytics"
    if contract is None:
        from floe_scaffold.project import init_project

        init_project(dest, git=False)
    else:
        render_project(dest, contract)
    entry = _entry(dest)
    # Released as README's Deploy section says: the release named after the code location.
    manifests = render(chart, load_yaml(dest / "deploy" / "values.yaml"), release=entry["name"])
    (deployment,) = of_kind(manifests, "Deployment")
    name = entry["name"]
    assert deployment["metadata"]["name"] == f"{name}-dagster-user-deployments-{name}"
    for manifest in [*manifests, load_yaml(dest / "deploy" / "secret.example.yaml")]:
        validate_manifest(manifest)
    ref = (contract or {}).get("compute", {}).get("connection_secret_ref")
    expected = ref or f"{entry['name']}-credentials"
    container = _code_server(manifests, entry["name"])
    assert {"secretRef": {"name": expected}} in container["envFrom"]
    assert _container_context(container)["k8s"]["env_secrets"] == [expected]


ENVIRONMENTS = [
    ("acme", "development", "snowflake", "acme-shop-dev"),
    ("acme", "staging", "snowflake", "acme-shop-staging"),
    ("acme", "production", "snowflake", "acme-shop-prod"),
    ("globex", "production", "postgres", "globex-shop-prod"),
]


def test_tenants_and_environments_are_code_locations_of_one_release(
    chart: Chart, tmp_path: Path
) -> None:
    """A multi-environment contract: one project compiled per environment, two tenants."""
    entries = []
    for tenant, environment, target, _ in ENVIRONMENTS:
        contract = target_contract(target)
        contract["compute"]["connection_secret_ref"] = f"{tenant}-{environment}-creds"
        contract["environment_context"] |= {
            "tenant_slug": tenant,
            "environment_type": environment,
            "governance_category": "production"
            if environment == "production"
            else "non_production",
        }
        project = render_project(tmp_path / f"{tenant}-{environment}" / "shop", contract)
        entries.append(_entry(project))
    assert [entry["name"] for entry in entries] == [name for *_, name in ENVIRONMENTS]

    manifests = render(chart, {"deployments": entries})

    for manifest in manifests:
        validate_manifest(manifest)
    assert sorted(item["metadata"]["name"] for item in of_kind(manifests, "Service")) == sorted(
        name for *_, name in ENVIRONMENTS
    )
    for tenant, environment, _, name in ENVIRONMENTS:
        container = _code_server(manifests, name)
        secrets = [
            source["secretRef"]["name"] for source in container["envFrom"] if "secretRef" in source
        ]
        # Each code location and its runs get their own tenant's Secret, and no other.
        assert f"{tenant}-{environment}-creds" in secrets
        assert not [
            s for s in secrets if s.endswith("-creds") and s != f"{tenant}-{environment}-creds"
        ]
        assert _container_context(container)["k8s"]["env_secrets"] == [
            f"{tenant}-{environment}-creds"
        ]


BAD = [
    pytest.param(
        {"connection_secret_ref": "Snowflake_Prod"},
        "compute.connection_secret_ref: 'Snowflake_Prod' is not a Kubernetes Secret name",
        "'snowflake-prod'",
        id="secret-ref",
    ),
    pytest.param(
        {"environment_context": {"tenant_slug": "ACME"}},
        "environment_context.tenant_slug: 'ACME' cannot be part of a Kubernetes name",
        "'acme'",
        id="uppercase-tenant",
    ),
    pytest.param(
        {"environment_context": {"project_slug": "p" * 60}},
        "environment_context: the code location name",
        "characters; Kubernetes names are at most 63",
        id="too-long",
    ),
    pytest.param(
        {"environment_context": {"tenant_slug": "9lives"}},
        "environment_context.tenant_slug: '9lives' starts the code location name",
        "must start with a letter",
        id="digit-first",
    ),
]


@pytest.mark.parametrize(("change", "problem", "fix"), BAD)
def test_names_kubernetes_refuses_are_refused_and_nothing_is_written(
    floe: FloeRunner, tmp_path: Path, change: dict[str, Any], problem: str, fix: str
) -> None:
    contract = contract_for("snowflake", connection_secret_ref="sf-creds")
    contract["environment_context"] = {**ACME, **change.get("environment_context", {})}
    if "connection_secret_ref" in change:
        contract["compute"]["connection_secret_ref"] = change["connection_secret_ref"]
    artifacts = tmp_path / "contract.json"
    artifacts.write_text(json.dumps(contract), encoding="utf-8")
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "notes.txt").write_text("mine\n", encoding="utf-8")
    before = snapshot(existing)

    for dest in (tmp_path / "new" / "shop", existing):
        result = floe("init", dest, "--artifacts", artifacts)
        assert result.exit_code == 1, result.stdout + result.stderr
        assert problem in result.stderr
        assert fix in result.stderr
    assert not (tmp_path / "new").exists()
    assert snapshot(existing) == before


def test_a_project_name_too_long_for_kubernetes_is_refused(
    floe: FloeRunner, tmp_path: Path
) -> None:
    artifacts = tmp_path / "contract.json"
    artifacts.write_text(json.dumps(build_contract()), encoding="utf-8")
    result = floe("init", tmp_path / "p", "--artifacts", artifacts, "--name", "a" * 64)
    assert result.exit_code == 1
    assert "name: the code location name" in result.stderr
    assert "shorten it (--name) by 1 or more" in result.stderr
    assert not (tmp_path / "p").exists()


def test_the_readme_platform_values_render_the_dagster_chart_with_the_golden_location(
    tmp_path: Path,
) -> None:
    """The Kubernetes guide's step 1, as written: the platform release lists the code location."""
    readme = docs_page("how-to/kubernetes.md")
    (block,) = re.findall(r"cat > platform-values.yaml <<'YAML'\n(.*?)\n\s*YAML\n", readme, re.S)
    values = yaml.safe_load(textwrap.dedent(block))
    platform = offline_chart(tmp_path / "platform", CHART_DIR)

    manifests = render(platform, values)

    for manifest in manifests:
        validate_manifest(manifest)
    (workspace,) = [
        item for item in of_kind(manifests, "ConfigMap") if "workspace.yaml" in item.get("data", {})
    ]
    (server,) = yaml.safe_load(workspace["data"]["workspace.yaml"])["load_from"]
    (instance,) = [
        item for item in of_kind(manifests, "ConfigMap") if "dagster.yaml" in item.get("data", {})
    ]
    config = yaml.safe_load(instance["data"]["dagster.yaml"])
    for storage in ("run_storage", "event_log_storage", "schedule_storage"):
        assert config[storage]["config"]["postgres_db"]["scheme"] == POSTGRES_SCHEME, storage
    project = render_project(
        tmp_path / "full" / "analytics",
        json.loads((GOLDEN_DIR / "full.json").read_text(encoding="utf-8")),
    )
    name = _entry(project)["name"]
    assert server["grpc_server"] == {"host": name, "port": 3030, "location_name": name}
    assert name in readme
    assert load_yaml(project / "deploy" / "secret.example.yaml")["metadata"]["name"] in readme
