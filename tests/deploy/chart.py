"""The official Dagster Helm chart (1.12.17, tests/fixtures/dagster-helm), usable offline.

The chart's ``values.schema.json`` refers to Kubernetes definitions by remote URL, which cannot
be fetched here (dagster issues #29629, #33134). :func:`offline_chart` copies the
``dagster-user-deployments`` chart and points those references at the same definitions shipped
in the ``kubernetes-validate`` wheel; nothing else of the chart changes.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import kubernetes_validate.utils as kubernetes  # type: ignore[import-untyped]
import yaml
from helm_python import Chart

from tests.helpers import FIXTURES

CHART_VERSION = "1.12.17"
CHART_DIR = FIXTURES / "dagster-helm" / f"dagster-{CHART_VERSION}"
USER_DEPLOYMENTS = CHART_DIR / "charts" / "dagster-user-deployments"
#: The instance's database URL scheme README's platform values set: with SQLAlchemy 2.1 a bare
#: ``postgresql://`` means psycopg 3, whose server-side parameters dagster-postgres's
#: ``NOTIFY run_events, %s`` cannot use; dagster-postgres installs psycopg2.
POSTGRES_SCHEME = "postgresql+psycopg2"
#: The Kubernetes version the rendered manifests are validated against.
KUBERNETES_VERSION = "1.32.0"
_REMOTE = re.compile(
    r"https://raw\.githubusercontent\.com/yannh/kubernetes-json-schema/master/v[0-9.]+/"
    r"_definitions\.json#/definitions/"
)

Manifest = dict[str, Any]


def _local_definitions() -> Path:
    schemas = Path(kubernetes.__file__).parent / "kubernetes-json-schema"
    return schemas / f"v{KUBERNETES_VERSION}-local" / "_definitions.json"


def offline_chart(workdir: Path, chart: Path = USER_DEPLOYMENTS) -> Chart:
    """A copy of ``chart`` (and its subcharts) with its schemas' remote references made local."""
    copy = workdir / chart.name
    shutil.copytree(chart, copy)
    local = _local_definitions().as_uri() + "#/$defs/"
    rewritten = 0
    for schema in copy.rglob("values.schema.json"):
        text = schema.read_text(encoding="utf-8")
        schema.write_text(_REMOTE.sub(local, text), encoding="utf-8")
        rewritten += bool(_REMOTE.search(text))
    assert rewritten, "the chart's schema no longer refers to remote definitions"
    return Chart.load(copy)


def render(
    chart: Chart, values: dict[str, Any], namespace: str = "dagster", release: str = "dagster"
) -> list[Manifest]:
    """Validate ``values`` against the chart's schema, render, return every manifest."""
    chart.validate_schema(values)
    rendered = chart.render(values, name=release, namespace=namespace)
    return [
        document
        for path, text in rendered.items()
        if path.endswith((".yaml", ".yml"))  # not NOTES.txt
        for document in yaml.safe_load_all(text)
        if document
    ]


def validate_manifest(manifest: Manifest) -> None:
    """Validate one manifest against the Kubernetes API schema (strict: no unknown fields)."""
    kubernetes.validate(manifest, KUBERNETES_VERSION, strict=True)


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    """The manifests of one kind."""
    return [manifest for manifest in manifests if manifest["kind"] == kind]
