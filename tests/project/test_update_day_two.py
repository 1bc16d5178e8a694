"""Day two (issue 29): plain ``copier update`` never breaks a project silently, and an update
with conflicts says exactly how to finish it; ``floe run`` / ``floe dev`` refuse a tree that
still holds them.

Real git repositories, real release tags, copier's own command line.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
import yaml
from jinja2.sandbox import SandboxedEnvironment

from floe_scaffold._cli import main
from floe_scaffold.errors import EXIT_CONFLICTS
from floe_scaffold.project import TEMPLATE_URL, TemplateSource, init_project, update_project
from floe_scaffold.project import _update as update_module
from floe_scaffold.project._conflicts import Unresolved, unresolved
from floe_scaffold.project._context import CONTEXT_FORMAT, RenderContext, build_context
from floe_scaffold.project._demo import demo_contract_text
from floe_scaffold.project._git import commit_initial
from floe_scaffold.project._names import ProjectNames
from floe_scaffold.project._source import copier_environment
from tests.helpers import ROOT
from tests.project.conftest import BIN, run_in
from tests.project.template_repo import TemplateRepo, git, replace_in, tree

NOTHING = Unresolved((), ())

#: What a release before context formats hard-coded where today's template reads floe.image_port.
OLD_PORT = "4000"

#: The fields of each context format. A field added (or changed in meaning) needs a new format:
#: bump CONTEXT_FORMAT and the number in copier.yml's `floe` validator, and add the entry here.
FIELDS_OF_FORMAT = {
    1: {
        "context_format",
        "project_name",
        "package",
        "target",
        "adapter_package",
        "environment",
        "dbt_dir",
        "dbt_dir_literal",
        "profiles_dir",
        "starter_dbt",
        "runs_locally",
        "artifacts_json",
        "profiles_yml",
        "defs_yaml",
        "dbt_project_yml",
        "env_vars_markdown",
        "ci_env_json",
        "toml_name",
        "toml_description",
        "toml_adapter",
        "deploy_name",
        "chart_version",
        "toml_code_location_name",
        "deploy_values_yaml",
        "deploy_secret_yaml",
        "deploy_secret_name",
        "image_app_dir",
        "image_prepare",
        "image_writable_dirs",
        "image_user",
        "image_port",
    },
}


def _copier_yml() -> dict[str, object]:
    loaded = yaml.safe_load((ROOT / "copier.yml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _demo_context() -> dict[str, object]:
    from floe_scaffold.contract import parse_artifacts

    text = demo_contract_text()
    context = build_context(
        parse_artifacts(text, source="demo"),
        text,
        ProjectNames("demo", "demo"),
        profile_name="floe",
        starter_dbt=True,
    )
    return context.model_dump(mode="json")


# ---- the context format ---------------------------------------------------------------------


def test_a_new_context_field_needs_a_new_context_format() -> None:
    assert set(RenderContext.model_fields) == FIELDS_OF_FORMAT[CONTEXT_FORMAT], (
        "the render context's fields changed: bump CONTEXT_FORMAT (project/_context.py) and the "
        "number in copier.yml's `floe` validator, and record the fields here"
    )


def test_copier_yml_accepts_only_the_current_context_format() -> None:
    question = _copier_yml()["floe"]
    assert isinstance(question, dict)
    validator = SandboxedEnvironment().from_string(question["validator"])
    assert validator.render(floe=_demo_context()).strip() == ""
    for other in ({}, {"context_format": CONTEXT_FORMAT - 1}, {"context_format": 99}, "x"):
        said = validator.render(floe=other)
        assert "run `floe update`" in said, other
    assert _copier_yml()["_envops"] == {"undefined": "jinja2.StrictUndefined"}


# copier leaves a directory iterator open when a render stops mid-way (its own leak, not ours)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_the_template_never_renders_an_undefined_value_as_empty(tmp_path: Path) -> None:
    """A value the template uses and the context lacks stops the render (no `EXPOSE `)."""
    from copier import Settings, run_copy
    from copier.errors import UserMessageError
    from jinja2 import UndefinedError

    repo = TemplateRepo(tmp_path / "floe-scaffold")
    context = _demo_context()
    del context["image_port"]
    dest = tmp_path / "demo"
    with (
        copier_environment(repo.source("v0.1.0")),
        pytest.raises((UndefinedError, UserMessageError), match="image_port"),
    ):
        run_copy(
            TEMPLATE_URL,
            dest,
            data={"floe": context},
            vcs_ref="v0.1.0",
            defaults=True,
            quiet=True,
            settings=Settings(),
        )
    assert not (dest / "Dockerfile").exists()


# ---- plain `copier update` across context formats -------------------------------------------


def _before_context_formats(template: Path) -> None:
    """Turn ``template`` into a release made before context formats existed."""
    copier_yml = template.parent / "copier.yml"
    text = copier_yml.read_text(encoding="utf-8")
    text = text.replace("_envops:\n  undefined: jinja2.StrictUndefined\n", "")
    start = text.index("  # The context's format")  # through the `floe` question's end
    copier_yml.write_text(text[:start] + text[text.index("\n\n", start) + 1 :], encoding="utf-8")
    dockerfile = template / "Dockerfile.jinja"
    dockerfile.write_text(
        dockerfile.read_text(encoding="utf-8").replace("{{ floe.image_port }}", OLD_PORT),
        encoding="utf-8",
    )


def _format_2(template: Path) -> None:
    """A later release whose context has a new value (format 2), used by the Dockerfile."""
    check = "floe.get('context_format') != {} %}}"
    replace_in(template.parent / "copier.yml", check.format(CONTEXT_FORMAT), check.format(2))
    replace_in(template / "Dockerfile.jinja", "EXPOSE ", "LABEL team={{ floe.team }}\nEXPOSE ")


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> tuple[TemplateRepo, dict[str, bytes]]:
    """v0.1.0 (before context formats), v0.2.0 (this checkout), v0.3.0 (context format 2).

    Also the files of v0.1.0's project: rendered by copier with v0.1.0's context, which has no
    ``context_format`` and no ``image_port``.
    """
    base = tmp_path_factory.mktemp("formats")
    repo = TemplateRepo(base / "floe-scaffold")
    current = {
        name: (repo.path / name).read_bytes()
        for name in ("copier.yml", "template/Dockerfile.jinja")
    }
    git(repo.path, "tag", "-d", "v0.1.0")
    repo.release("v0.1.0", _before_context_formats)

    def back_to_this_checkout(template: Path) -> None:
        for name, content in current.items():
            (template.parent / name).write_bytes(content)

    repo.release("v0.2.0", back_to_this_checkout)
    repo.release("v0.3.0", _format_2)
    old_context = _demo_context()
    del old_context["context_format"], old_context["image_port"]
    project = base / "old" / "demo"
    from copier import Settings, run_copy

    with copier_environment(repo.source("v0.1.0")):
        run_copy(
            TEMPLATE_URL,
            project,
            data={"floe": old_context},
            vcs_ref="v0.1.0",
            defaults=True,
            quiet=True,
            settings=Settings(),
        )
    return repo, tree(project)


def _old_project(releases: tuple[TemplateRepo, dict[str, bytes]], dest: Path) -> Path:
    for name, content in releases[1].items():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_bytes(content)
    assert commit_initial(dest, "generated by floe-scaffold 0.1.0").problem is None
    return dest


def _plain_copier_update(
    repo: TemplateRepo, project: Path, cache: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "copier"), "update", *args],
        cwd=project,
        env=repo.git_env(cache),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def _status(project: Path) -> str:
    return git(project, "status", "--porcelain", "--untracked-files=all")


def test_plain_copier_update_of_an_older_context_stops_naming_floe_update_and_changes_nothing(
    releases: tuple[TemplateRepo, dict[str, bytes]], tmp_path: Path
) -> None:
    repo, _ = releases
    project = _old_project(releases, tmp_path / "demo")
    assert f"EXPOSE {OLD_PORT}\n" in (project / "Dockerfile").read_text(encoding="utf-8")
    before, head = tree(project), git(project, "rev-parse", "HEAD")

    # As a user would: to the latest release, with defaults or answering prompts (no terminal).
    for args in (["--defaults"], ["--vcs-ref", "v0.2.0", "--defaults"], ["--skip-answered"]):
        done = _plain_copier_update(repo, project, tmp_path / "cache", *args)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        said = " ".join(done.stderr.split())
        assert "run `floe update` instead" in said, said
        assert "Traceback" not in done.stderr
        assert tree(project) == before
        assert _status(project) == ""
        assert git(project, "rev-parse", "HEAD") == head

    # `floe update` recomputes the context: the new value arrives, the answers get the format.
    result = update_project(project, template=repo.source("v0.2.0"))
    assert result.conflicts == ()
    dockerfile = (project / "Dockerfile").read_text(encoding="utf-8")
    assert "EXPOSE 3030\n" in dockerfile
    assert re.search(r"^(WORKDIR|EXPOSE) *$", dockerfile, re.MULTILINE) is None
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["floe"]["context_format"] == CONTEXT_FORMAT
    git(project, "commit", "-q", "-m", "floe update")

    # A later release with a new context value: plain copier update stops the same way.
    before = tree(project)
    done = _plain_copier_update(repo, project, tmp_path / "cache", "--defaults")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "run `floe update` instead" in " ".join(done.stderr.split())
    assert tree(project) == before
    assert _status(project) == ""


# ---- conflicts: staged, explained, refused by run and dev --------------------------------------


NEW_FILES = ("NEW.md", "ci/checks/lint.yaml")


def _release_with_new_files(template: Path) -> None:
    replace_in(template / "README.md.jinja", "## Lineage\n", "## Lineage and provenance\n")
    replace_in(template / "pyproject.toml.jinja", "[tool.dg]", "# v0.2.0\n[tool.dg]")
    for name in NEW_FILES:
        (template / name).parent.mkdir(parents=True, exist_ok=True)
        (template / name).write_text(f"{name}\n", encoding="utf-8")


def _fixed(source: TemplateSource) -> Callable[[], AbstractContextManager[TemplateSource]]:
    @contextmanager
    def template() -> Iterator[TemplateSource]:
        yield source

    return template


def test_an_update_with_conflicts_stages_the_rest_and_says_how_to_finish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = TemplateRepo(tmp_path / "floe-scaffold")
    v2 = repo.release("v0.2.0", _release_with_new_files)
    project = tmp_path / "demo"
    assert init_project(project, template=repo.source("v0.1.0")).git_initialized
    replace_in(project / "README.md", "## Lineage\n", "## Lineage (we send it to Marquez)\n")
    git(project, "commit", "-q", "-am", "our heading")
    monkeypatch.setattr(update_module, "installed_template", _fixed(v2))

    assert main(["update", str(project)]) == EXIT_CONFLICTS

    err = " ".join(capsys.readouterr().err.split())
    status = _status(project).splitlines()
    assert "UU README.md" in status
    assert {"M  pyproject.toml", *(f"A  {name}" for name in NEW_FILES)} <= set(status)
    assert not [line for line in status if line.startswith("??")]  # nothing left untracked
    assert "1 file with conflicts" in err
    assert "README.md" in err
    for name in NEW_FILES:
        assert f"new (staged, nothing to do): {name}" in err
    assert "git add -- README.md" in err
    commit = re.search(r"git commit -m ('[^']*')", err)
    assert commit is not None, err

    # floe run and floe dev refuse the tree, naming the file, before starting anything.
    for command in (["run"], ["dev", "--port", "1"]):
        assert main([*command, "--project-dir", str(project)]) == EXIT_CONFLICTS
        said = " ".join(capsys.readouterr().err.split())
        assert "unresolved conflicts from `floe update` in 1 file" in said
        assert "README.md (conflict markers; unmerged in git's index)" in said
    # So does the project's own pytest, before collecting anything.
    done = run_in(project, sys.executable, "-m", "pytest", "-p", "no:cacheprovider")
    said = " ".join(done.stderr.split())
    assert done.returncode == EXIT_CONFLICTS, done.stdout + done.stderr
    assert "unresolved conflicts from `floe update` in 1 file" in said
    assert "README.md (conflict markers; unmerged in git's index)" in said
    assert "Traceback" not in done.stdout + done.stderr
    assert "collected" not in said
    # `git add` of a file that still holds markers resolves nothing for dbt: still refused.
    git(project, "add", "--", "README.md")
    assert main(["run", "--project-dir", str(project)]) == EXIT_CONFLICTS
    assert "README.md (conflict markers)" in capsys.readouterr().err

    # The commands the message gives finish the update: a clean tree, and nothing left to do.
    readme = project / "README.md"
    text = readme.read_text(encoding="utf-8")
    resolved = re.sub(
        r"<<<<<<< before updating\n.*?=======\n(.*?)>>>>>>> after updating\n",
        r"\1",
        text,
        flags=re.DOTALL,
    )
    assert resolved != text
    readme.write_text(resolved, encoding="utf-8")
    git(project, "add", "--", "README.md")
    git(project, "commit", "-q", "-m", shlex.split(commit.group(1))[0])
    assert _status(project) == ""
    assert unresolved(project) == NOTHING
    for name in NEW_FILES:
        assert git(project, "ls-files", "--", name).strip() == name
    assert main(["update", str(project)]) == 0
    assert "is up to date" in capsys.readouterr().out


def test_the_conflict_check_finds_markers_at_a_line_start_only_and_nothing_outside_git(
    tmp_path: Path,
) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / "README.md").write_text(
        "conflicts look like `<<<<<<< before updating`\n", encoding="utf-8"
    )
    assert unresolved(project) == NOTHING  # not in git
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "docs")
    assert unresolved(project) == NOTHING  # a marker quoted in prose is no conflict
    (project / "x.yml").write_text("a: 1\n<<<<<<< before updating\nb: 2\n", encoding="utf-8")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "markers committed")
    assert unresolved(project) == Unresolved((), ("x.yml",))
