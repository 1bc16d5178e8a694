"""Small things a daily user notices: file modes, the step's name, what init prints and commits."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from floe_scaffold import __version__
from floe_scaffold.project import init_project
from tests.helpers import FloeRunner
from tests.project.conftest import BIN


@pytest.fixture
def umask() -> Iterator[Any]:
    """``umask(value)`` sets the process umask for the test; the old one is put back."""
    old = os.umask(0o022)
    os.umask(old)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_generated_files_honour_the_umask(umask: Any, tmp_path: Path, mask: int, mode: int) -> None:
    umask(mask)
    dest = tmp_path / "shop"
    init_project(dest, git=False)
    files = [path for path in dest.rglob("*") if path.is_file()]
    assert len(files) > 10
    assert {path.relative_to(dest).as_posix(): path.stat().st_mode & 0o777 for path in files} == {
        path.relative_to(dest).as_posix(): mode for path in files
    }


def test_the_dagster_step_says_what_it_runs(demo_project: Path, loaded_definitions: Any) -> None:
    defs = loaded_definitions(demo_project, "jaffle")
    job = defs.resolve_implicit_global_asset_job_def()
    steps = sorted(node.name for node in job.graph.node_defs)
    assert steps == ["dbt_build", "dbt_source_freshness"]  # dbt, then the sources' freshness


def _git_log(project: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        ["git", "log", "--format=%an <%ae>|%s"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return done.stdout.strip()


def _without_identity(monkeypatch: pytest.MonkeyPatch, home: Path) -> dict[str, str]:
    """An environment where git knows no user: a fresh HOME, no system or global config."""
    home.mkdir()
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME"):
        monkeypatch.delenv(name, raising=False)
    for name in ("GIT_COMMITTER_EMAIL", "EMAIL", "XDG_CONFIG_HOME", "GIT_CONFIG_GLOBAL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    return dict(os.environ)


def test_init_without_a_git_identity_commits_as_floe_and_says_how_to_set_one(
    floe: FloeRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _without_identity(monkeypatch, tmp_path / "home")
    probe = subprocess.run(["git", "var", "GIT_COMMITTER_IDENT"], env=env, capture_output=True)
    assert probe.returncode != 0, "the test needs a git with no identity"

    result = floe("init", tmp_path / "shop")

    assert result.exit_code == 0, result.stderr
    assert "git has no user identity here" in result.stdout
    assert "git config --global user.email you@example.com" in result.stdout
    log = _git_log(tmp_path / "shop", env)
    assert (
        log
        == f"floe-scaffold <floe-scaffold@localhost>|Generate shop with floe-scaffold {__version__}"
    )
    # Nothing was written to git's configuration: the user's next commit still asks who they are.
    assert not (tmp_path / "home" / ".gitconfig").exists()


def test_init_with_a_git_identity_commits_as_the_user_and_names_the_version(
    floe: FloeRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _without_identity(monkeypatch, tmp_path / "home")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Ada")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "ada@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Ada")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "ada@example.com")

    result = floe("init", tmp_path / "shop")

    assert result.exit_code == 0, result.stderr
    assert "no user identity" not in result.stdout
    log = _git_log(tmp_path / "shop")
    assert log == f"Ada <ada@example.com>|Generate shop with floe-scaffold {__version__}"


def _next_lines(stdout: str) -> list[str]:
    return stdout.split("next:\n", 1)[1].splitlines()


def test_next_lines_name_floe_as_the_shell_finds_it(
    floe: FloeRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", os.pathsep.join([str(BIN), "/usr/bin", "/bin"]))
    result = floe("init", tmp_path / "shop")
    assert result.exit_code == 0, result.stderr
    lines = _next_lines(result.stdout)
    assert lines[1].startswith("  floe run "), lines
    assert not any("activate" in line for line in lines)


def test_next_lines_name_floes_full_path_when_the_shell_would_not_find_it(
    floe: FloeRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", os.pathsep.join(["/usr/bin", "/bin"]))
    result = floe("init", tmp_path / "shop")
    assert result.exit_code == 0, result.stderr
    lines = _next_lines(result.stdout)
    full = shlex.quote(str(BIN.absolute() / "floe"))
    assert f"  {full} run      # materialize every asset, with a summary" in lines
    assert f"  {full} dev      # the Dagster UI" in lines
    if (BIN / "activate").exists():
        assert lines[0].startswith(f"  . {shlex.quote(str(BIN.absolute() / 'activate'))}")
    # What it says works from the project: the full path runs floe there.
    done = subprocess.run(
        [*shlex.split(full), "--version"],
        cwd=tmp_path / "shop",
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and __version__ in done.stdout
