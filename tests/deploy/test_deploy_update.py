"""``floe update`` brings template changes to the deploy files and keeps edits to values.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from floe_scaffold.project import TemplateSource, init_project, update_project
from tests.project.template_repo import TemplateRepo, git, replace_in

DOCKERFILE_LINE = "LABEL org.opencontainers.image.vendor=floe\n"
VALUES_LINE = "# Validate with: helm lint --strict\n"


def _release_v2(template: Path) -> None:
    replace_in(template / "Dockerfile.jinja", "USER {{", DOCKERFILE_LINE + "USER {{")
    values = template / "deploy" / "values.yaml.jinja"
    values.write_text(VALUES_LINE + values.read_text(encoding="utf-8"), encoding="utf-8")


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> tuple[TemplateSource, TemplateSource]:
    """This checkout's template as v0.1.0, and v0.2.0 changing the Dockerfile and values.yaml."""
    repo = TemplateRepo(tmp_path_factory.mktemp("template") / "floe-scaffold")
    return repo.source("v0.1.0"), repo.release("v0.2.0", _release_v2)


def test_update_changes_the_deploy_files_and_keeps_a_values_edit(
    releases: tuple[TemplateSource, TemplateSource], tmp_path: Path
) -> None:
    v1, v2 = releases
    project = tmp_path / "shop"
    assert init_project(project, template=v1).git_initialized
    values = project / "deploy" / "values.yaml"
    replace_in(values, "repository: registry.example.com/shop", "repository: ghcr.io/acme/shop")
    replace_in(values, "tag: 0.1.0", "tag: 2026.11.30")
    git(project, "commit", "-q", "-am", "our registry")

    result = update_project(project, template=v2)

    assert result.conflicts == ()
    assert {change.path for change in result.changes} >= {"Dockerfile", "deploy/values.yaml"}
    text = values.read_text(encoding="utf-8")
    assert text.startswith(VALUES_LINE), "the template's change arrived"
    (entry,) = yaml.safe_load(text)["deployments"]
    assert entry["image"] == {
        "repository": "ghcr.io/acme/shop",
        "tag": "2026.11.30",
        "pullPolicy": "IfNotPresent",
    }, "the user's edit stayed"
    assert DOCKERFILE_LINE in (project / "Dockerfile").read_text(encoding="utf-8")
