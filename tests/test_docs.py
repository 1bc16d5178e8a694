"""The documentation cannot drift from the code: its reference is the code's, its tutorial runs.

* The reference pages are generated from the code at build time (``floe_scaffold._reference``,
  ``docs/hooks.py``); here they are compared with what the code answers: every option of every
  command with the real ``floe COMMAND --help``, every ``defs.yaml`` attribute with the
  component's model and JSON Schema, every contract field with ``floe schema``.
* Every environment variable the package reads by name is on the environment page.
* The tutorial's shell blocks run, in order, in a scratch folder, as a reader would type them
  (the few that need a browser, a container builder or a cluster are marked and shown only).
* The README stays a front page: at most 250 lines, and every page it links to exists.

``mkdocs build --strict`` itself (broken links and anchors fail it) runs in ``scripts/test``.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
from pathlib import Path

import pytest

from floe_scaffold._reference import (
    REFERENCES,
    cli_options,
    cli_reference,
    component_attributes,
    component_reference,
    contract_fields,
    contract_reference,
    expand,
)
from tests.helpers import DOCS, ROOT, docs_page
from tests.project.conftest import BIN, quiet_env

#: A tutorial block; one the tests do not run follows ``*Shown, not run by the tests (why):*``.
BLOCK = re.compile(r"(\*Shown, not run by the tests \(([^\n]+)\):\*\n\n)?```bash\n(.*?)```\n", re.S)
#: Environment variables named in the package's code: ``"FLOE_DEBUG"``, ``"OTEL_SDK_DISABLED"``.
VARIABLE = re.compile(r"^(FLOE|OPENLINEAGE|OTEL)_[A-Z0-9_]*[A-Z0-9]$")


def _help(command: str) -> str:
    done = subprocess.run(
        [str(BIN / "floe"), command, "--help"],
        capture_output=True,
        text=True,
        env=quiet_env(COLUMNS="200"),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _section(reference: str, heading: str) -> str:
    """The part of a generated reference under ``heading`` up to the next heading."""
    assert heading in reference, heading
    return reference.split(heading, 1)[1].split("\n### ", 1)[0]


def test_the_cli_reference_names_every_option_of_every_command() -> None:
    reference = cli_reference()
    options = cli_options()
    assert set(options) >= {"init", "run", "dev", "update", "lineage", "validate", "schema"}
    for command, spellings in options.items():
        shown = set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", _help(command))) - {"-h", "--help"}
        assert {s for s in spellings if s.startswith("-")} == shown, command
        section = _section(reference, f"### `floe {command}`")
        for spelling in spellings:
            assert f"`{spelling}`" in section, (command, spelling)


def test_the_defs_yaml_reference_names_every_attribute_of_the_component() -> None:
    from floe_scaffold.components import FloeDbtProject

    reference = component_reference()
    attributes = component_attributes()
    schema = FloeDbtProject.model_json_schema()
    assert attributes["attributes"] == set(schema["properties"])
    assert {"attributes.lineage", "attributes.table_metadata", "attributes.schedules[]"} <= set(
        attributes
    )
    for path, names in attributes.items():
        section = reference if path == "attributes" else _section(reference, f"### `{path}`")
        for name in names:
            assert f"| `{name}` |" in section, (path, name)


def test_the_contract_reference_names_every_field_of_the_schema() -> None:
    from floe_scaffold.contract import contract_json_schema

    schema = contract_json_schema()
    named = {
        path.split(".")[-1].removesuffix("[]").removesuffix("{}") for path in contract_fields()
    }
    every = set(schema["properties"])
    for definition in schema["$defs"].values():
        every |= set(definition.get("properties") or {})
    assert every <= named, sorted(every - named)
    reference = contract_reference()
    for path in contract_fields():
        assert f"| `{path}` |" in reference, path


def test_every_marker_of_the_docs_is_a_reference_the_code_makes() -> None:
    markers = {
        found: page
        for page in DOCS.rglob("*.md")
        for found in re.findall(r"<!-- floe-reference: ([a-z-]+) -->", page.read_text("utf-8"))
    }
    assert set(markers) == set(REFERENCES), "each reference on a page, each marker known"
    with pytest.raises(KeyError, match="unknown floe reference 'nope'"):
        expand("<!-- floe-reference: nope -->")


def test_every_environment_variable_the_code_reads_is_documented() -> None:
    page = docs_page("reference/environment.md")
    named: set[str] = set()
    for module in (ROOT / "floe_scaffold").rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and VARIABLE.match(str(node.value)):
                named.add(str(node.value))
    assert {"FLOE_DEBUG", "OPENLINEAGE_URL", "OTEL_SDK_DISABLED"} <= named
    missing = sorted(name for name in named if f"`{name}`" not in page)
    assert missing == [], f"read by the code, not on docs/reference/environment.md: {missing}"


def test_the_readme_is_a_front_page_whose_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    assert "bash scripts/bootstrap && bash scripts/test" in readme
    assert "floe init /tmp/floe-demo && .venv/bin/floe run --project-dir /tmp/floe-demo" in readme
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [link for link in links if not link.startswith(("http://", "https://"))]
    assert len(local) >= 20
    for link in local:
        assert (ROOT / link).exists(), f"README links to {link}, which does not exist"


def _tutorial_blocks() -> list[tuple[str | None, str]]:
    """The tutorial's bash blocks in order: (why it is not run, or None; the commands)."""
    text = docs_page("tutorial.md")
    return [(match.group(2), match.group(3)) for match in BLOCK.finditer(text)]


@pytest.mark.slow
def test_the_tutorial_runs_as_written(tmp_path: Path) -> None:
    """Every runnable block, in order, in one shell (its `cd` carries on), in a scratch folder."""
    blocks = _tutorial_blocks()
    shown = [why for why, _ in blocks if why is not None]
    assert len(shown) <= 4 and all(why.strip() for why in shown), shown
    runnable = [commands for why, commands in blocks if why is None]
    assert len(runnable) >= 7
    script = ["set -euo pipefail"]
    for number, commands in enumerate(runnable, start=1):
        script += [f"echo '--- tutorial block {number}' >&2", commands]
    env = quiet_env(
        PATH=f"{BIN}:/usr/bin:/bin",
        PYTHONPATH="src",  # what the shown `pip install -e ".[dev]"` of the project gives
        GIT_AUTHOR_NAME="Tutorial Reader",
        GIT_AUTHOR_EMAIL="reader@example.com",
        GIT_COMMITTER_NAME="Tutorial Reader",
        GIT_COMMITTER_EMAIL="reader@example.com",
    )
    env.pop("DAGSTER_HOME", None)
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    failed = done.stderr.rsplit("--- tutorial block", 1)[-1]
    assert done.returncode == 0, f"block{failed[-4000:]}\n{done.stdout[-3000:]}"
    project = tmp_path / "shop"
    assert (project / "dbt" / "models" / "marts" / "large_orders.sql").is_file()
    assert (project / ".floe" / "lineage" / "lineage.html").is_file()
    assert "large_orders" in done.stdout and "success" in done.stdout
    log = subprocess.run(
        ["git", "log", "--format=%s"], cwd=project, capture_output=True, text=True, check=True
    )
    assert log.stdout.splitlines()[0] == "Add large_orders"
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=project, capture_output=True, text=True, check=True
    )
    assert status.stdout == "", "floe update of the same release changes nothing"
    runs = json.loads(
        subprocess.run(
            [str(BIN / "python"), "-c", _RUNS],
            cwd=project,
            capture_output=True,
            text=True,
            check=True,
            env=env,
        ).stdout
    )
    # floe run, --select stg_orders+, large_orders, and the runs of the project's own tests
    assert len(runs) >= 3 and set(runs) == {"SUCCESS"}, runs


#: The statuses of the project's recorded runs, oldest first.
_RUNS = """
import json, dagster as dg
with dg.DagsterInstance.from_config(".dagster_home") as instance:
    print(json.dumps([run.status.value for run in reversed(instance.get_runs())]))
"""
