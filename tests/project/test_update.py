"""``floe update`` and plain ``copier update`` on real git repositories with real release tags."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
import yaml

from floe_scaffold._cli import main
from floe_scaffold.errors import (
    EXIT_CONFLICTS,
    EXIT_INVALID_INPUT,
    ContractError,
    SystemFailureError,
    UpdateError,
)
from floe_scaffold.project import TEMPLATE_URL, TemplateSource, init_project, update_project
from floe_scaffold.project import _update as update_module
from floe_scaffold.project._demo import demo_contract_text
from floe_scaffold.project._source import checkout_template
from tests.helpers import TARGET_PROPERTIES
from tests.project.conftest import BIN, run_in
from tests.project.template_repo import (
    TemplateRepo,
    git,
    replace_in,
    set_release_version,
    tree,
)

V2_NEW_FILE = ".pre-commit-config.yaml"


def _release_v2(template: Path) -> None:
    set_release_version(template, "0.2.0")
    replace_in(template / "README.md.jinja", "## Lineage\n", "## Lineage and provenance\n")
    (template / V2_NEW_FILE).write_text(
        "repos:\n  - repo: https://github.com/pre-commit/pre-commit-hooks\n    rev: v5.0.0\n"
        "    hooks:\n      - id: check-merge-conflict\n        args: [--assume-in-merge]\n",
        encoding="utf-8",
    )


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> tuple[TemplateSource, TemplateSource]:
    """floe's template released twice: v0.1.0 (this checkout) and v0.2.0 (three changes)."""
    repo = TemplateRepo(tmp_path_factory.mktemp("template") / "floe-scaffold")
    return repo.source("v0.1.0"), repo.release("v0.2.0", _release_v2)


def _init(dest: Path, source: TemplateSource, artifacts: Path | None = None) -> Path:
    result = init_project(dest, artifacts=artifacts, template=source)
    assert result.git_initialized, result.git_problem
    return dest


def _user_edits(project: Path) -> dict[str, str]:
    """Edit what a user owns (none of it near a line the v0.2.0 template changes), commit."""
    package = project / "src" / "demo"
    edits = {
        "README.md": ("## Run it\n", "## Run it (on the team's laptops)\n"),
        "src/demo/definitions.py": ("import dagster as dg\n", "import dagster as dg  # ours\n"),
        "dbt/models/marts/orders.sql": ("", "\n-- reviewed by the data team\n"),
    }
    for name, (old, new) in edits.items():
        path = project / name
        if old:
            replace_in(path, old, new)
        else:
            path.write_text(path.read_text(encoding="utf-8") + new, encoding="utf-8")
    defs = package / "defs" / "dbt_project" / "defs.yaml"
    defs.write_text(defs.read_text(encoding="utf-8") + "# our note\n", encoding="utf-8")
    mine = project / "dbt" / "models" / "marts" / "revenue.sql"
    mine.write_text("select sum(amount) as revenue from {{ ref('orders') }}\n", encoding="utf-8")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "our edits")
    return {name: new for name, (_, new) in edits.items()} | {
        "src/demo/defs/dbt_project/defs.yaml": "# our note\n",
        "dbt/models/marts/revenue.sql": "sum(amount)",
    }


def _status(project: Path) -> str:
    return git(project, "status", "--porcelain", "--untracked-files=all")


def test_update_keeps_user_edits_and_brings_the_new_release(
    releases: tuple[TemplateSource, TemplateSource], tmp_path: Path
) -> None:
    v1, v2 = releases
    project = _init(tmp_path / "demo", v1)
    kept = _user_edits(project)

    result = update_project(project, template=v2)

    assert result.applied
    assert (result.from_commit, result.to_commit) == ("v0.1.0", "v0.2.0")
    assert result.conflicts == ()
    for name, text in kept.items():
        assert text in (project / name).read_text(encoding="utf-8"), name
    assert "## Lineage and provenance" in (project / "README.md").read_text(encoding="utf-8")
    assert (project / V2_NEW_FILE).is_file()
    pyproject = (project / "pyproject.toml").read_text(encoding="utf-8")
    assert '"floe-scaffold==0.2.0"' in pyproject
    assert "floe-scaffold==0.1.0" not in pyproject
    for name in ("README.md", ".github/workflows/ci.yml"):  # they install the pinned release
        text = (project / name).read_text(encoding="utf-8")
        assert 'pip install "floe-scaffold==0.2.0"' in text and "==0.1.0" not in text, name
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["_commit"] == "v0.2.0"
    changed = {change.path: change.status for change in result.changes}
    assert changed == {
        ".copier-answers.yml": "updated",
        ".github/workflows/ci.yml": "updated",
        "README.md": "updated",
        "pyproject.toml": "updated",
        V2_NEW_FILE: "created",
    }
    # Nothing is committed for the user; the whole update is staged (no new file untracked).
    assert git(project, "log", "--format=%s", "-1").strip() == "our edits"
    assert sorted(git(project, "diff", "--cached", "--name-only").split()) == sorted(changed)
    assert set(_status(project).split("\n")) >= {"M  README.md", f"A  {V2_NEW_FILE}"}
    assert "??" not in _status(project)


def test_an_update_of_an_unedited_project_equals_a_fresh_render(
    releases: tuple[TemplateSource, TemplateSource], tmp_path: Path
) -> None:
    v1, v2 = releases
    updated = _init(tmp_path / "old" / "demo", v1)
    update_project(updated, template=v2)
    fresh = _init(tmp_path / "new" / "demo", v2)
    assert tree(updated) == tree(fresh)


def test_a_same_line_edit_is_a_listed_conflict_and_exits_3(
    releases: tuple[TemplateSource, TemplateSource],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    v1, v2 = releases
    project = _init(tmp_path / "demo", v1)
    replace_in(project / "README.md", "## Lineage\n", "## Lineage (we send it to Marquez)\n")
    git(project, "commit", "-q", "-am", "our heading")
    monkeypatch.setattr(update_module, "installed_template", _fixed(v2))

    code = main(["update", str(project)])

    assert code == EXIT_CONFLICTS
    err = capsys.readouterr().err
    assert "1 file with conflicts" in err
    assert "  README.md" in err
    readme = (project / "README.md").read_text(encoding="utf-8")
    assert "<<<<<<< before updating" in readme
    assert "## Lineage (we send it to Marquez)" in readme
    assert "## Lineage and provenance" in readme
    # Unmerged in git's index: `git commit` refuses until the user resolves it.
    assert "UU README.md" in _status(project).split("\n")
    assert git(project, "log", "--format=%s", "-1").strip() == "our heading"


def test_diff_shows_the_update_and_changes_nothing(
    releases: tuple[TemplateSource, TemplateSource],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    v1, v2 = releases
    project = _init(tmp_path / "demo", v1)
    before = tree(project)
    monkeypatch.setattr(update_module, "installed_template", _fixed(v2))

    assert main(["update", str(project), "--diff"]) == 0

    out = capsys.readouterr().out
    assert "would update" in out
    assert "+## Lineage and provenance" in out
    assert f"created  {V2_NEW_FILE}" in out
    assert tree(project) == before
    assert _status(project) == ""


def _contract_for_postgres(path: Path) -> Path:
    contract = json.loads(demo_contract_text())
    contract["compute"] = {
        "target": "postgres",
        "connection_secret_ref": None,
        "properties": TARGET_PROPERTIES["postgres"],
    }
    contract["transforms"][0]["target"] = "prod"
    contract["observability"]["lineage_endpoint"] = "http://marquez.internal:5000"
    contract["observability"]["attributes"]["tenant.id"] = "acme"
    path.write_text(json.dumps(contract, indent=2), encoding="utf-8")
    return path


@pytest.mark.slow
@pytest.mark.requirement("FR-003")
@pytest.mark.requirement("FR-005")
def test_a_contract_change_reaches_every_generated_file_and_definitions_load(
    releases: tuple[TemplateSource, TemplateSource], tmp_path: Path
) -> None:
    _, v2 = releases
    project = _init(tmp_path / "demo", v2)
    kept = _user_edits(project)
    new_contract = _contract_for_postgres(tmp_path / "compiled_artifacts.json")

    result = update_project(project, artifacts=new_contract, template=v2)

    assert result.conflicts == ()
    profiles = yaml.safe_load((project / ".floe/profiles/profiles.yml").read_text("utf-8"))
    output = profiles["floe"]["outputs"]["prod"]
    assert profiles["floe"]["target"] == "prod"
    assert output["type"] == "postgres"
    assert output["password"] == "{{ env_var('FLOE_POSTGRES_PASSWORD') }}"
    copied = json.loads((project / ".floe/compiled_artifacts.json").read_text("utf-8"))
    assert copied == json.loads(new_contract.read_text("utf-8"))
    defs = yaml.safe_load((project / "src/demo/defs/dbt_project/defs.yaml").read_text("utf-8"))
    assert defs["attributes"]["target"] == "prod"
    assert '"dbt-postgres"' in (project / "pyproject.toml").read_text("utf-8")
    assert "FLOE_POSTGRES_PASSWORD" in (project / "README.md").read_text("utf-8")
    for name, text in kept.items():
        assert text in (project / name).read_text(encoding="utf-8"), name
    # The updated project is whole: its definitions load with the real postgres adapter.
    done = run_in(
        project,
        str(BIN / "dg"),
        "check",
        "defs",
        env={"FLOE_POSTGRES_USER": "u", "FLOE_POSTGRES_PASSWORD": "p"},
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_profiles_yml_is_regenerated_even_when_edited_by_hand(
    releases: tuple[TemplateSource, TemplateSource], tmp_path: Path
) -> None:
    v1, v2 = releases
    project = _init(tmp_path / "demo", v1)
    profiles = project / ".floe" / "profiles" / "profiles.yml"
    generated = profiles.read_text(encoding="utf-8")
    profiles.write_text(generated.replace("threads: 4", "threads: 64"), encoding="utf-8")
    git(project, "commit", "-q", "-am", "hand edit of a generated file")

    result = update_project(project, template=v2)

    assert profiles.read_text(encoding="utf-8") == generated
    assert result.conflicts == ()


def test_plain_copier_update_gives_the_same_tree_as_floe_update(
    releases: tuple[TemplateSource, TemplateSource], tmp_path: Path
) -> None:
    v1, v2 = releases
    original = _init(tmp_path / "original" / "demo", v1)
    _user_edits(original)
    by_floe, by_copier = tmp_path / "floe" / "demo", tmp_path / "copier" / "demo"
    for clone in (by_floe, by_copier):
        git(tmp_path, "clone", "-q", str(original), str(clone))

    update_project(by_floe, template=v2)
    repo = TemplateRepo.__new__(TemplateRepo)
    repo.path = v2.location
    done = subprocess.run(
        [str(BIN / "copier"), "update", "--defaults", "--vcs-ref", "v0.2.0", "--quiet"],
        cwd=by_copier,
        env=repo.git_env(tmp_path / "copier-cache"),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )

    assert done.returncode == 0, done.stderr
    assert tree(by_floe) == tree(by_copier)
    # floe stages its update; copier leaves it to `git add -A`, which then gives the same index.
    git(by_copier, "add", "-A")
    assert _status(by_floe) == _status(by_copier)


def test_update_refuses_a_dirty_tree_a_downgrade_and_a_foreign_project(
    releases: tuple[TemplateSource, TemplateSource], tmp_path: Path
) -> None:
    v1, v2 = releases
    project = _init(tmp_path / "demo", v2)
    (project / "notes.txt").write_text("not committed yet\n", encoding="utf-8")
    assert "uncommitted changes (notes.txt); commit or stash" in _refusal(project, v2)
    (project / "notes.txt").unlink()

    said = _refusal(project, v1)
    assert "downgrading from 0.2.0 to 0.1.0" in said
    assert "install a floe-scaffold at least as new" in said

    answers = project / ".copier-answers.yml"
    replace_in(answers, f"_src_path: {TEMPLATE_URL}", "_src_path: /tmp/x")
    git(project, "commit", "-q", "-am", "someone else's template")
    assert ".copier-answers.yml._src_path: is '/tmp/x'" in _refusal(project, v2)
    assert "not inside a project generated by floe-scaffold" in _refusal(tmp_path, v2)


def _refusal(project: Path, source: TemplateSource) -> str:
    with pytest.raises(UpdateError) as refused:
        update_project(project, template=source)
    return "\n".join(refused.value.lines())


def test_update_outside_git_and_with_a_bad_contract_exit_1(
    releases: tuple[TemplateSource, TemplateSource],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    v1, _ = releases
    project = tmp_path / "demo"
    init_project(project, template=v1, git=False)
    assert "not in a git repository; updates merge through git" in _refusal(project, v1)
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "first")
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": "1.0.0", "compute": {"target": "oracle"}}', encoding="utf-8")
    with pytest.raises(ContractError):
        update_project(project, artifacts=bad, template=v1)
    assert main(["update", str(project), "--artifacts", str(bad)]) == EXIT_INVALID_INPUT
    assert "Traceback" not in capsys.readouterr().err
    assert _status(project) == ""


def _release_without_the_secret_example(template: Path) -> None:
    set_release_version(template, "0.2.0")
    (template / "deploy" / "secret.example.yaml.jinja").unlink()


def test_a_file_the_template_removed_is_removed_even_if_edited(tmp_path: Path) -> None:
    repo = TemplateRepo(tmp_path / "template" / "floe-scaffold")
    v1 = repo.source("v0.1.0")
    v2 = repo.release("v0.2.0", _release_without_the_secret_example)
    project = _init(tmp_path / "demo", v1)
    example = project / "deploy" / "secret.example.yaml"
    example.write_text(example.read_text(encoding="utf-8") + "# our note\n", encoding="utf-8")
    git(project, "commit", "-q", "-am", "our note")
    update_project(project, template=v2)
    assert not example.exists()
    assert "D  deploy/secret.example.yaml" in _status(project).splitlines(), _status(project)
    assert "# our note" in git(project, "show", "HEAD:deploy/secret.example.yaml"), "in history"


def test_a_project_without_a_recorded_template_commit_is_told_how_to_move_on(
    releases: tuple[TemplateSource, TemplateSource], tmp_path: Path
) -> None:
    """The very first renders (2026-11-27) recorded no ``_commit``: the update says so."""
    v1, _ = releases
    project = tmp_path / "demo"
    init_project(project, template=v1)
    answers_file = project / ".copier-answers.yml"
    answers = yaml.safe_load(answers_file.read_text(encoding="utf-8"))
    del answers["_commit"]
    answers_file.write_text(yaml.safe_dump(answers), encoding="utf-8")
    git(project, "commit", "-q", "-am", "as the first render wrote it")
    said = _refusal(project, v1)
    assert ".copier-answers.yml._commit: is missing" in said
    assert "projects of the very first render, 2026-11-27, recorded none" in said
    assert "generate the project again with `floe init`" in said
    assert _status(project) == ""


def test_a_contract_that_moves_the_dbt_project_is_refused_naming_the_field(
    releases: tuple[TemplateSource, TemplateSource], tmp_path: Path
) -> None:
    """An update never moves the user's dbt project: it says how to move it, changes nothing."""
    v1, _ = releases
    project = tmp_path / "demo"
    init_project(project, template=v1)
    moved = json.loads(demo_contract_text())
    moved["dbt_project_path"] = "transform"
    contract = tmp_path / "moved.json"
    contract.write_text(json.dumps(moved), encoding="utf-8")
    with pytest.raises(UpdateError) as refused:
        update_project(project, artifacts=contract, template=v1)
    said = "\n".join(refused.value.lines())
    assert "dbt_project_path" in said
    assert "moves the dbt project from 'dbt' to 'transform'" in said
    assert "`git mv` the directory" in said
    assert _status(project) == ""
    assert (project / "dbt" / "dbt_project.yml").is_file()
    assert not (project / "transform").exists()


@pytest.mark.parametrize(
    "failing",
    [
        "clone",
        "copier",
        "ls-files",
        "add",
        "diff",
        "pack-objects",
        "unpack-objects",
        "update-index",
    ],
)
def test_a_failure_at_any_step_leaves_the_project_as_it_was(
    releases: tuple[TemplateSource, TemplateSource],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    failing: str,
) -> None:
    v1, v2 = releases
    project = _init(tmp_path / "demo", v1)
    # A conflicting edit, so the update goes through every step (conflicts re-created last).
    replace_in(project / "README.md", "## Lineage\n", "## Lineage (ours)\n")
    git(project, "commit", "-q", "-am", "a conflicting edit")
    before, index_before = tree(project), git(project, "ls-files", "-s")
    real_git = update_module._git_bytes

    def failing_git(cwd: Path, *args: str, stdin: bytes | None = None) -> bytes:
        if args[0] == failing:
            raise SystemFailureError(f"simulated failure of git {failing}")
        return real_git(cwd, *args, stdin=stdin)

    def failing_copier(*_: object) -> None:
        raise SystemFailureError("simulated failure of copier")

    monkeypatch.setattr(update_module, "_git_bytes", failing_git)
    if failing == "copier":
        monkeypatch.setattr(update_module, "_copier_update", failing_copier)
    with pytest.raises(SystemFailureError, match="simulated failure"):
        update_project(project, template=v2)

    assert tree(project) == before
    assert git(project, "ls-files", "-s") == index_before
    assert _status(project) == ""


def _fixed(source: TemplateSource) -> Callable[[], AbstractContextManager[TemplateSource]]:
    """A stand-in for ``installed_template`` that yields ``source``."""

    @contextmanager
    def template() -> Iterator[TemplateSource]:
        yield source

    return template


def test_a_checkout_with_uncommitted_template_changes_renders_them_as_a_draft(
    tmp_path: Path,
) -> None:
    repo = TemplateRepo(tmp_path / "floe-scaffold")
    with checkout_template(repo.path) as clean:
        assert not clean.draft
        assert clean.ref == git(repo.path, "rev-parse", "HEAD").strip()
    replace_in(repo.path / "template" / "README.md.jinja", "## Run it\n", "## Run it (draft)\n")
    (repo.path / "template" / "NEW.md").write_text("untracked\n", encoding="utf-8")

    with checkout_template(repo.path) as draft:
        assert draft.draft
        project = _init(tmp_path / "demo", draft)
        assert "## Run it (draft)" in (project / "README.md").read_text(encoding="utf-8")
        assert (project / "NEW.md").is_file()
        said = _refusal(project, draft)
    assert "has uncommitted template changes; commit them" in said
    assert _status(repo.path) == " M template/README.md.jinja\n?? template/NEW.md\n"


def test_a_project_inside_a_larger_repository_updates_only_its_own_files(
    releases: tuple[TemplateSource, TemplateSource], tmp_path: Path
) -> None:
    v1, v2 = releases
    monorepo = tmp_path / "platform"
    monorepo.mkdir()
    git(monorepo, "init", "-q")
    (monorepo / "README.md").write_text("# the platform\n\n## Lineage\n", encoding="utf-8")
    result = init_project(monorepo / "analytics", template=v1)
    assert not result.git_initialized  # already in a work tree: the user commits
    git(monorepo, "add", "-A")
    git(monorepo, "commit", "-q", "-m", "platform with a floe project")
    (monorepo / "scratch.txt").write_text("dirt outside the project\n", encoding="utf-8")

    updated = update_project(monorepo / "analytics" / "dbt", template=v2)

    assert updated.root == monorepo / "analytics"
    assert {change.path for change in updated.changes} >= {"README.md", V2_NEW_FILE}
    assert (monorepo / "README.md").read_text(encoding="utf-8") == "# the platform\n\n## Lineage\n"
    assert sorted(_status(monorepo).splitlines()) == [
        "?? scratch.txt",
        f"A  analytics/{V2_NEW_FILE}",
        "M  analytics/.copier-answers.yml",
        "M  analytics/.github/workflows/ci.yml",
        "M  analytics/README.md",
        "M  analytics/pyproject.toml",
    ]


def test_a_project_reached_through_a_symlink_updates(
    releases: tuple[TemplateSource, TemplateSource], tmp_path: Path
) -> None:
    v1, v2 = releases
    project = _init(tmp_path / "real" / "demo", v1)
    link = tmp_path / "link"
    link.symlink_to(project, target_is_directory=True)

    result = update_project(link, template=v2)

    assert result.root == project.resolve()
    assert (project / V2_NEW_FILE).is_file()


def test_the_suggested_commit_message_names_the_floe_scaffold_version(
    releases: tuple[TemplateSource, TemplateSource],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from floe_scaffold import __version__

    v1, v2 = releases
    monkeypatch.setattr(update_module, "installed_template", _fixed(v2))
    contract_only = _init(tmp_path / "contract", v2)
    new_contract = _contract_for_postgres(tmp_path / "compiled_artifacts.json")
    assert main(["update", str(contract_only), "--artifacts", str(new_contract)]) == 0
    out = capsys.readouterr().out
    assert f"git commit -m 'Update the floe contract (floe-scaffold {__version__})'" in out

    template_too = _init(tmp_path / "template", v1)
    assert main(["update", str(template_too)]) == 0
    out = capsys.readouterr().out
    assert f"git commit -m 'Update to floe-scaffold {__version__}'" in out
