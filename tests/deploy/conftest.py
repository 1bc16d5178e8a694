"""Generated projects for the deploy tests: rendered once per session by the real ``floe init``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from helm_python import Chart

from floe_scaffold.project import init_project
from tests.deploy.chart import offline_chart
from tests.helpers import TARGETS, contract_for

ACME = {
    "tenant_id": "12345678-1234-1234-1234-123456789abc",
    "tenant_slug": "acme",
    "project_id": "abcdef12-3456-7890-abcd-ef1234567890",
    "project_slug": "shop",
    "environment_id": "fedcba98-7654-3210-fedc-ba9876543210",
    "environment_type": "production",
    "governance_category": "production",
}


def secret_ref(target: str) -> str:
    """The contract's ``connection_secret_ref`` of each target's project."""
    return f"{target}-prod-creds"


def target_contract(target: str) -> dict[str, Any]:
    """A complete contract for ``target``: a secret ref, a tenant, endpoints."""
    contract = contract_for(target, connection_secret_ref=secret_ref(target))
    contract["environment_context"] = dict(ACME)
    contract["observability"] = {
        "lineage_endpoint": "http://marquez.observability:5000",
        "otlp_endpoint": "http://otel-collector.observability:4317",
        "attributes": {"team": "data, platform"},
    }
    contract["lineage_namespace"] = "acme-shop"
    return contract


def render_project(dest: Path, contract: dict[str, Any]) -> Path:
    """``floe init`` of ``contract`` into ``dest`` (no git: these projects are only read)."""
    artifacts = dest.parent / f"{dest.name}.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    artifacts.write_text(json.dumps(contract), encoding="utf-8")
    init_project(dest, artifacts=artifacts, git=False)
    return dest


def load_yaml(path: Path) -> Any:
    """A YAML file's data."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def chart(tmp_path_factory: pytest.TempPathFactory) -> Chart:
    """The official dagster-user-deployments chart 1.12.17, schema references made local."""
    return offline_chart(tmp_path_factory.mktemp("chart"))


@pytest.fixture(scope="session")
def target_projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One generated project per compute target."""
    root = tmp_path_factory.mktemp("targets")
    return {
        target: render_project(root / f"{target}_shop", target_contract(target))
        for target in TARGETS
    }
