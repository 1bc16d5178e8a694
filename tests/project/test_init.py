"""`floe init`: what a generated project contains, and what init refuses."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from floe_scaffold import __version__
from floe_scaffold.contract import parse_artifacts
from floe_scaffold.errors import SystemFailureError
from floe_scaffold.profiles import Environment, build_profile, default_environment_name
from floe_scaffold.project import _write, init_project
from tests.helpers import GOLDEN_DIR, FloeRunner, build_contract, tree_snapshot, write_json

EXPECTED_FILES = {
    ".copier-answers.yml",
    ".floe/compiled_artifacts.json",
    ".floe/profiles/profiles.yml",
    ".github/workflows/ci.yml",
    ".gitignore",
    "README.md",
    "pyproject.toml",
    "src/jaffle/__init__.py",
    "src/jaffle/definitions.py",
    "src/jaffle/defs/__init__.py",
    "src/jaffle/defs/dbt_project/defs.yaml",
    "tests/test_definitions.py",
    "tests/conftest.py",
    "dbt/dbt_project.yml",
    "dbt/models/staging/stg_customers.sql",
    "dbt/models/intermediate/int_order_payments.sql",
    "dbt/models/marts/customers.sql",
    "dbt/seeds/raw_orders.csv",
}


def _files(project: Path) -> set[str]:
    return {
        path.relative_to(project).as_posix()
        for path in project.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(project).parts
    }


@pytest.mark.requirement("FR-006")
def test_the_demo_project_has_every_part(demo_project: Path) -> None:
    files = _files(demo_project)
    assert files >= EXPECTED_FILES
    assert not [name for name in files if name.endswith(".jinja")]


def test_dbt_jinja_survives_rendering(demo_project: Path) -> None:
    sql = (demo_project / "dbt/models/marts/customers.sql").read_text(encoding="utf-8")
    assert "{{ ref('stg_customers') }}" in sql
    assert "{{ ref('orders') }}" in sql


def test_defs_yaml_names_the_floe_component(demo_project: Path) -> None:
    defs = yaml.safe_load(
        (demo_project / "src/jaffle/defs/dbt_project/defs.yaml").read_text(encoding="utf-8")
    )
    assert defs == {
        "type": "floe_scaffold.components.FloeDbtProject",
        "attributes": {
            "dbt_project": "dbt",
            "profiles_dir": ".floe/profiles",
            "target": "dev",
            "profile": "floe",
            "artifacts": ".floe/compiled_artifacts.json",
        },
    }


@pytest.mark.requirement("FR-005")
@pytest.mark.requirement("FR-008")
def test_profiles_are_written_where_the_contract_says(demo_project: Path) -> None:
    profile = yaml.safe_load(
        (demo_project / ".floe/profiles/profiles.yml").read_text(encoding="utf-8")
    )
    assert profile["floe"]["outputs"]["dev"]["type"] == "duckdb"
    assert profile["floe"]["outputs"]["dev"]["path"] == "warehouse.duckdb"


def test_the_project_is_a_git_repository_with_a_first_commit(demo_project: Path) -> None:
    log = subprocess.run(
        ["git", "log", "--format=%s"], cwd=demo_project, capture_output=True, text=True, check=True
    )
    assert log.stdout.strip() == f"Generate jaffle with floe-scaffold {__version__}"
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=demo_project,
        capture_output=True,
        text=True,
        check=True,
    )
    assert status.stdout == ""


def test_the_answers_file_records_the_render_context(demo_project: Path) -> None:
    answers = yaml.safe_load((demo_project / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["floe"]["package"] == "jaffle"
    assert answers["floe"]["target"] == "duckdb"


def test_rendering_is_reproducible(tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "shop", tmp_path / "b" / "shop"
    init_project(first, git=False)
    init_project(second, git=False)
    snapshot_a, snapshot_b = tree_snapshot(first), tree_snapshot(second)
    answers = ".copier-answers.yml"  # records the temporary template path it came from
    assert {k: v for k, v in snapshot_a.items() if k != answers} == {
        k: v for k, v in snapshot_b.items() if k != answers
    }


def test_the_generated_pyproject_depends_on_floe_and_the_adapter(tmp_path: Path) -> None:
    from floe_scaffold.project._locate import tomllib

    dest = tmp_path / "wh"
    artifacts = write_json(tmp_path, json.loads((GOLDEN_DIR / "full.json").read_text()))
    init_project(dest, artifacts=artifacts, git=False)
    pyproject = tomllib.loads((dest / "pyproject.toml").read_text(encoding="utf-8"))
    dependencies = pyproject["project"]["dependencies"]
    assert "dbt-snowflake" in dependencies
    assert any(dep.startswith("floe-scaffold==") for dep in dependencies)
    assert pyproject["tool"]["dg"]["project"]["root_module"] == "wh"


def test_the_readme_lists_the_variables_to_set(tmp_path: Path) -> None:
    dest = tmp_path / "wh"
    init_project(dest, artifacts=GOLDEN_DIR / "full.json", git=False)
    readme = (dest / "README.md").read_text(encoding="utf-8")
    assert "`SNOWFLAKE_PROD_CREDS_PASSWORD`" in readme
    assert "`SNOWFLAKE_PROD_CREDS_USER`" in readme


def test_artifacts_in_the_destination_are_used_and_kept_verbatim(tmp_path: Path) -> None:
    dest = tmp_path / "proj"
    contract = build_contract(compute={"target": "postgres", "properties": {"host": "db"}})
    text = json.dumps(contract)  # deliberately not pretty-printed
    (dest / ".floe").mkdir(parents=True)
    (dest / ".floe/compiled_artifacts.json").write_text(text, encoding="utf-8")
    result = init_project(dest, git=False)
    assert result.context.target == "postgres"
    assert (dest / ".floe/compiled_artifacts.json").read_text(encoding="utf-8") == text
    assert ".floe/compiled_artifacts.json" in result.placement.unchanged


@pytest.mark.parametrize(
    ("raw", "package"), [("My Shop!", "my_shop"), ("jaffle-shop", "jaffle_shop"), ("A1", "a1")]
)
def test_names_are_normalized(tmp_path: Path, raw: str, package: str) -> None:
    result = init_project(tmp_path / "x", name=raw, git=False)
    assert result.names.package == package
    assert (tmp_path / "x" / "src" / package / "definitions.py").is_file()


@pytest.mark.parametrize("name", ["1shop", "dagster", "class", "os", "!!!", "a" * 65])
def test_bad_names_exit_1_and_write_nothing(floe: FloeRunner, tmp_path: Path, name: str) -> None:
    result = floe("init", tmp_path / "dest", "--name", name)
    assert result.exit_code == 1, result.stderr
    assert "name:" in result.stderr
    assert not (tmp_path / "dest").exists()


def test_invalid_artifacts_exit_1_and_leave_dest_as_it_was(
    floe: FloeRunner, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine", encoding="utf-8")
    bad = write_json(tmp_path, build_contract(compute={"target": "oracle"}), "bad.json")
    before = tree_snapshot(dest)
    result = floe("init", dest, "--artifacts", bad)
    assert result.exit_code == 1
    assert "compute.target: unsupported compute target 'oracle'" in result.stderr
    assert tree_snapshot(dest) == before


def test_missing_artifacts_file_exits_2(floe: FloeRunner, tmp_path: Path) -> None:
    result = floe("init", tmp_path / "dest", "--artifacts", tmp_path / "none.json")
    assert result.exit_code == 2
    assert "no such file" in result.stderr
    assert not (tmp_path / "dest").exists()


def test_a_destination_that_is_a_file_exits_2(floe: FloeRunner, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    result = floe("init", tmp_path / "file")
    assert result.exit_code == 2
    assert "is a file" in result.stderr
    with pytest.raises(SystemFailureError, match="exists and is not a directory"):
        init_project(tmp_path / "file")


def test_files_it_did_not_write_are_not_overwritten(floe: FloeRunner, tmp_path: Path) -> None:
    dest = tmp_path / "shop"
    dest.mkdir()
    (dest / "README.md").write_text("my own readme\n", encoding="utf-8")
    (dest / "pyproject.toml").write_text("[project]\nname='x'\n", encoding="utf-8")
    before = tree_snapshot(dest)
    result = floe("init", dest)
    assert result.exit_code == 1
    assert "README.md: exists with other content; move it away or pass --force" in result.stderr
    assert "pyproject.toml: exists" in result.stderr
    assert tree_snapshot(dest) == before
    forced = floe("init", dest, "--force")
    assert forced.exit_code == 0, forced.stderr
    assert "updated  README.md" in forced.stdout
    assert "my own readme" not in (dest / "README.md").read_text(encoding="utf-8")


def test_init_again_rewrites_only_generated_files(tmp_path: Path) -> None:
    dest = tmp_path / "shop"
    init_project(dest, git=False)
    profiles = dest / ".floe/profiles/profiles.yml"
    profiles.write_text("stale: true\n", encoding="utf-8")
    before = tree_snapshot(dest)
    again = init_project(dest, git=False)
    assert again.placement.created == ()
    assert set(again.placement.changed) <= {".copier-answers.yml", ".floe/profiles/profiles.yml"}
    after = tree_snapshot(dest)
    assert "stale" not in after[".floe/profiles/profiles.yml"].decode()
    untouched = set(before) - {".copier-answers.yml", ".floe/profiles/profiles.yml"}
    assert {name: after[name] for name in untouched} == {name: before[name] for name in untouched}


def test_a_failure_while_writing_leaves_dest_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "shop"
    dest.mkdir()
    (dest / "keep.txt").write_text("x", encoding="utf-8")
    before = tree_snapshot(dest)
    real = _write._atomic_write
    calls = {"n": 0}

    def failing(target: Path, content: bytes) -> None:
        calls["n"] += 1
        if calls["n"] == 7:
            raise OSError(28, "No space left on device", str(target))
        real(target, content)

    monkeypatch.setattr(_write, "_atomic_write", failing)
    with pytest.raises(SystemFailureError, match="No space left on device"):
        init_project(dest, git=False)
    assert tree_snapshot(dest) == before
    assert sorted(p.name for p in dest.iterdir()) == ["keep.txt"]


def test_a_failure_in_a_new_destination_removes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(target: Path, _content: bytes) -> None:
        raise OSError(5, "Input/output error", str(target))

    monkeypatch.setattr(_write, "_atomic_write", failing)
    with pytest.raises(SystemFailureError):
        init_project(tmp_path / "new" / "shop", git=False)
    assert not (tmp_path / "new" / "shop").exists()


def test_init_prints_what_it_made_and_the_next_commands(floe: FloeRunner, tmp_path: Path) -> None:
    result = floe("init", tmp_path / "shop")
    assert result.exit_code == 0, result.stderr
    assert "created  src/shop/definitions.py" in result.stdout
    assert "floe run" in result.stdout
    assert "git repository initialized" in result.stdout


def _dummy_env(artifacts_path: Path) -> dict[str, str]:
    artifacts = parse_artifacts(artifacts_path.read_bytes())
    profile = build_profile([Environment(default_environment_name(artifacts), artifacts)])
    return {var.name: f"dummy-{var.key}" for _, var in profile.env_vars}


@pytest.mark.slow
@pytest.mark.requirement("FR-006")
@pytest.mark.parametrize("golden", ["full", "production", "docker_integration", "minimal"])
def test_every_golden_artifact_renders_a_project_whose_definitions_load(
    tmp_path: Path, golden: str
) -> None:
    from tests.project.conftest import BIN, run_in

    artifacts = GOLDEN_DIR / f"{golden}.json"
    dest = tmp_path / golden
    init_project(dest, artifacts=artifacts, git=False)
    done = run_in(dest, str(BIN / "dg"), "check", "defs", env=_dummy_env(artifacts))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All definitions loaded successfully" in done.stdout + done.stderr
