"""The component's ``defs.yaml``: bad attributes give a clear error naming them, never a traceback.

``dg check defs`` (the tool users run) checks the YAML against the component's schema, then loads
the definitions; ``floe run`` loads them in-process. For each bad attribute the output must name
the attribute and say what is wrong, with no Python ``Traceback (most recent call last)``. (dg
shows a few frames of its own under "Stack Trace:" for errors raised while loading; the message
is the last line of it.) Values that look like shell or template injection must not run anything.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from floe_scaffold.project import init_project
from tests.project.conftest import BIN, quiet_env, run_in

pytestmark = pytest.mark.slow

DEFS = Path("src/shop/defs/dbt_project/defs.yaml")
MARKER = "PWNED"


@dataclass(frozen=True)
class Case:
    """Attributes to set in ``defs.yaml``, and what the error output must say."""

    id: str
    attributes: dict[str, Any]
    says: tuple[str, ...]
    floe_run: bool = False
    creates: tuple[str, ...] = field(default=())


def _marker(project: Path) -> str:
    return str(project.parent / MARKER)


# `{marker}` in a string value is replaced by a path that must never come to exist.
CASES = [
    Case("unknown-key", {"bogus_key": 1}, ("attributes.bogus_key", "'bogus_key' was unexpected")),
    Case("select-not-a-string", {"select": [1, 2]}, ("attributes.select", "not of type 'string'")),
    Case("cli-args-not-a-list", {"cli_args": "build"}, ("cli_args", "valid list")),
    Case(
        "prepare-not-a-mode",
        {"prepare": "sometimes"},
        ("prepare", "'auto', 'always' or 'never'"),
        floe_run=True,
    ),
    Case(
        "tracing-protocol",
        {"tracing": {"protocol": "carrier-pigeon"}},
        ("attributes.tracing", "carrier-pigeon"),
    ),
    Case(
        "lineage-timeout",
        {"lineage": {"timeout": 0}},
        ("attributes.lineage", "timeout", "out of range"),
    ),
    Case(
        "select-shell-substitution",
        {"select": "$(touch {marker})"},
        ("attributes.select: '$(touch", "is not a dbt selection"),
        floe_run=True,
    ),
    Case(
        "exclude-unknown-method",
        {"exclude": "nope:x"},
        ("attributes.exclude: 'nope:x'", "'nope' is not a valid method name"),
    ),
    Case(
        "artifacts-not-a-contract",
        {"artifacts": "README.md"},
        ("attributes.artifacts: invalid CompiledArtifacts", "not valid JSON"),
        floe_run=True,
    ),
    Case(
        "dbt-project-outside",
        {"dbt_project": "../../{marker}"},
        ("attributes.dbt_project", "is not a dbt project", "no dbt_project.yml"),
    ),
    Case("target-unknown", {"target": "nope"}, ("does not have a target named 'nope'",)),
]


@pytest.fixture(scope="module")
def parsed_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("component") / "shop"
    init_project(dest, git=False)
    done = run_in(dest, str(BIN / "dg"), "check", "defs")
    assert done.returncode == 0, done.stdout + done.stderr
    return dest


@pytest.fixture
def project(parsed_project: Path, tmp_path: Path) -> Iterator[Path]:
    copy = tmp_path / "work" / "shop"
    shutil.copytree(parsed_project, copy, ignore=shutil.ignore_patterns("*.duckdb"))
    yield copy


def _fill(value: Any, marker: str) -> Any:
    if isinstance(value, str):
        return value.replace("{marker}", marker)
    if isinstance(value, dict):
        return {key: _fill(item, marker) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, marker) for item in value]
    return value


def set_attributes(project: Path, attributes: dict[str, Any]) -> None:
    path = project / DEFS
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["attributes"].update(_fill(attributes, _marker(project)))
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def floe_run(project: Path) -> subprocess.CompletedProcess[str]:
    env = {**quiet_env(), "OPENLINEAGE_DISABLED": "true", "OTEL_SDK_DISABLED": "true"}
    return subprocess.run(
        [str(BIN / "floe"), "run"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def assert_nothing_ran(project: Path) -> None:
    assert not list(project.parent.parent.rglob(f"{MARKER}*")), "a value was run as a command"


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_a_bad_attribute_gives_a_clear_error(project: Path, case: Case) -> None:
    set_attributes(project, case.attributes)
    done = run_in(project, str(BIN / "dg"), "check", "defs")
    output = done.stdout + done.stderr
    assert done.returncode != 0, output[-3000:]
    assert "Traceback (most recent call last)" not in output, output[-3000:]
    assert "defs.yaml" in output
    for fragment in case.says:
        assert fragment.replace("{marker}", _marker(project)) in output, (fragment, output[-3000:])
    assert_nothing_ran(project)
    if case.floe_run:
        ran = floe_run(project)
        assert ran.returncode == 1, ran.stdout[-2000:] + ran.stderr[-2000:]
        assert "Traceback" not in ran.stdout + ran.stderr
        assert ran.stderr.startswith("error: cannot load shop.definitions"), ran.stderr[-2000:]
        assert case.says[0].split(":")[0] in ran.stderr, ran.stderr[-2000:]
        assert_nothing_ran(project)


def test_arguments_are_never_given_to_a_shell(project: Path) -> None:
    """``cli_args`` reach dbt as argv: a shell command in one is dbt's problem, not a shell's."""
    set_attributes(project, {"cli_args": ["build; touch {marker}", "$(touch {marker}-2)"]})
    ran = floe_run(project)
    assert ran.returncode == 1, ran.stdout[-2000:] + ran.stderr[-2000:]
    assert "Traceback" not in ran.stdout + ran.stderr
    assert_nothing_ran(project)
