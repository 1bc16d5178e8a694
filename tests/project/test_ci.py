"""The generated project's CI workflow (``.github/workflows/ci.yml``).

It validates against GitHub's published workflow schema (the copy ``check-jsonschema`` ships, so
offline), passes every variable the profile needs from the repository's secrets or variables,
and runs exactly the commands of the generated README's "Set it up" block; that block runs as
written in a fresh virtualenv in ``tests/project/test_wheel.py``.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from floe_scaffold.contract import load_artifacts
from floe_scaffold.profiles import Environment, build_profile, default_environment_name
from floe_scaffold.project import init_project
from tests.helpers import contract_for, write_json
from tests.project.conftest import BIN

WORKFLOW = Path(".github/workflows/ci.yml")


#: Contracts whose profiles read credentials (secrets) and, for postgres, its host (a setting).
CONTRACTS = {
    "postgres": contract_for(
        "postgres",
        connection_secret_ref="pg-ci-creds",
        properties={"port": 5433, "database": "analytics", "schema": "marts"},
    ),
    "snowflake": contract_for("snowflake", connection_secret_ref="snowflake-ci-creds"),
}


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A project that reads secrets and settings, one that reads secrets, and the demo."""
    root = tmp_path_factory.mktemp("ci")
    rendered = {}
    for target, contract in CONTRACTS.items():
        where = root / target
        where.mkdir()
        init_project(where / "shop", artifacts=write_json(where, contract), git=False)
        rendered[target] = where / "shop"
    init_project(root / "demo", git=False)
    rendered["demo"] = root / "demo"
    return rendered


def required_by_dbt(profiles_file: Path) -> set[str]:
    """The variables dbt cannot render the profile without: each ``env_var`` the file names is
    left unset in turn (the others set) and dbt's own profile renderer is asked, in dbt's own
    invocation context (what ``env_var`` reads), in a copy of this thread's context."""
    import contextvars

    from dbt.config.renderer import ProfileRenderer
    from dbt.exceptions import EnvVarMissingError
    from dbt_common.context import set_invocation_context

    text = profiles_file.read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    named = set(re.findall(r"env_var\(\s*['\"]([^'\"]+)['\"]", text))

    def renders(env: dict[str, str]) -> bool:
        set_invocation_context(env)
        try:
            rendered = ProfileRenderer({}).render_data(raw)
        except EnvVarMissingError:
            return False
        # dbt keeps a `password` it cannot render as the raw text (SecretRenderer: "passwords
        # sometimes contain jinja-esque characters"), so a missing one shows as unrendered Jinja.
        return "{{" not in yaml.safe_dump(rendered)

    everything = dict.fromkeys(named, "set")
    assert contextvars.copy_context().run(renders, everything), "renders with all of them set"
    return {
        name
        for name in named
        if not contextvars.copy_context().run(renders, dict.fromkeys(named - {name}, "set"))
    }


def setup_block(readme: str) -> str:
    """The first ``bash`` block under the generated README's "Set it up" heading."""
    section = readme.split("## Set it up", 1)[1]
    return section.split("```bash\n", 1)[1].split("```", 1)[0]


def test_every_workflow_validates_against_githubs_workflow_schema(
    projects: dict[str, Path],
) -> None:
    files = [str(project / WORKFLOW) for project in projects.values()]
    done = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *files],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok -- validation done" in done.stdout


def test_a_workflow_that_breaks_the_schema_is_refused(
    projects: dict[str, Path], tmp_path: Path
) -> None:
    """The validator really checks: a step with neither ``uses`` nor ``run`` fails."""
    workflow = yaml.safe_load((projects["demo"] / WORKFLOW).read_text(encoding="utf-8"))
    workflow["jobs"]["checks"]["steps"].append({"name": "nothing"})
    broken = tmp_path / "ci.yml"
    broken.write_text(yaml.safe_dump(workflow), encoding="utf-8")
    done = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", broken],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr


@pytest.mark.parametrize("name", [*CONTRACTS, "demo"])
def test_the_workflow_runs_the_readmes_commands_with_the_profiles_variables(
    projects: dict[str, Path], name: str
) -> None:
    project = projects[name]
    workflow = yaml.safe_load((project / WORKFLOW).read_text(encoding="utf-8"))
    job = workflow["jobs"]["checks"]
    runs = [step["run"] for step in job["steps"] if "run" in step]
    readme = (project / "README.md").read_text(encoding="utf-8")
    assert runs == [setup_block(readme)], "one step: the README's commands, exactly"
    commands = [line.split("#")[0].strip() for line in runs[0].splitlines()]
    assert commands[-2:] == ["pytest", "dg check defs"], "the project's own checks"
    assert ".github/workflows/ci.yml" in readme, "the README says the workflow is there"
    assert {"push", "pull_request"} <= set(workflow[True] if True in workflow else workflow["on"])

    artifacts = load_artifacts(project / ".floe" / "compiled_artifacts.json")
    profile = build_profile([Environment(default_environment_name(artifacts), artifacts)])
    secret = {
        var.name: var.secret for _, var in profile.env_vars
    }  # floe's policy: which is a secret
    # Which variables the job must pass is dbt's answer, not the product's: what dbt's renderer
    # cannot render the generated profiles.yml without.
    needed = required_by_dbt(project / ".floe" / "profiles" / "profiles.yml")
    assert needed or name == "demo", "a profile with credentials: a test that can fail"
    required = {variable: secret[variable] for variable in needed}
    if name == "postgres":
        assert {True, False} <= set(required.values()), "secrets and settings: a test that can fail"
    expected = {
        variable: f"${{{{ {'secrets' if secret else 'vars'}.{variable} }}}}"
        for variable, secret in required.items()
    }
    assert job["env"] == {
        "PIP_INDEX_URL": "${{ vars.PIP_INDEX_URL || 'https://pypi.org/simple' }}",
        "PIP_FIND_LINKS": "${{ vars.PIP_FIND_LINKS }}",
        **expected,
    }
    assert "`PIP_INDEX_URL`" in readme and "`PIP_FIND_LINKS`" in readme, "documented"
