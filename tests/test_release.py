"""``scripts/release X.Y.Z`` in a scratch repository, and a project generated from its wheel.

The scratch repository holds this checkout's files (uncommitted edits included, so the test
checks what is on disk; in CI's clean clone that is HEAD) in one commit, with no tag, as a fresh
clone has them. The release must refuse a dirty tree and a version that is not after the current
one; then it sets the version, dates the changelog, commits, tags and builds; and a project that
``floe init`` generates from the built wheel names that one version everywhere: the
``floe-scaffold==`` pin, the README's install step, the CI workflow, and the template commit
recorded in ``.copier-answers.yml``. One build, one install, one ``floe init``.
"""

from __future__ import annotations

import datetime
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.project.template_repo import checkout_copy, git
from tests.project.test_wheel import _floe, _venv

#: Every release a generated file names with digits: ``floe-scaffold==1.2.0``,
#: ``floe-scaffold 1.2.0``, ``floe_scaffold-1.2.0-…whl``, ``…@v1.2.0``, ``tag `v1.2.0```.
NAMED_RELEASE = re.compile(r"floe[-_]scaffold\W{1,3}v?(\d+(?:\.\d+)+)|\bv(\d+\.\d+\.\d+)")
VERSION_LINE = re.compile(r'(?m)^floe_scaffold_version: \{type: str, default: "([^"]+)"')


def _release(repo: Path, home: Path, version: str) -> subprocess.CompletedProcess[str]:
    """``scripts/release VERSION`` as a maintainer runs it, with this test's Python."""
    identity = {"NAME": "Release Manager", "EMAIL": "release@example.com"}
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "GIT_CONFIG_NOSYSTEM": "1",
        "PYTHON": sys.executable,
        **{
            f"GIT_{who}_{key}": value
            for who in ("AUTHOR", "COMMITTER")
            for key, value in identity.items()
        },
    }
    return subprocess.run(
        [str(repo / "scripts" / "release"), version],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def _named_releases(text: str) -> set[str]:
    return {version for pair in NAMED_RELEASE.findall(text) for version in pair if version}


@pytest.mark.slow
def test_one_command_releases_and_a_project_from_the_wheel_names_that_version(
    tmp_path: Path,
) -> None:
    repo = checkout_copy(tmp_path / "floe-scaffold", "main")  # no tag, as a fresh clone
    home = tmp_path / "home"
    home.mkdir()
    current = VERSION_LINE.findall((repo / "copier.yml").read_text(encoding="utf-8"))
    assert len(current) == 1
    major, minor = (int(part) for part in current[0].split(".")[:2])
    version = f"{major}.{minor + 1}.0"
    changelog = (repo / "CHANGELOG.md").read_text(encoding="utf-8")
    unreleased = changelog.split("## [Unreleased]\n", 1)[1].split("\n## ", 1)[0].strip()
    assert "### Upgrading" in unreleased.splitlines()

    (repo / "notes.txt").write_text("not committed\n", encoding="utf-8")
    dirty = _release(repo, home, version)
    assert dirty.returncode == 1
    assert "uncommitted changes (notes.txt); a release is made from committed" in dirty.stderr
    (repo / "notes.txt").unlink()
    older = _release(repo, home, "0.0.1")
    assert older.returncode == 1
    assert f"0.0.1 is not after the current version {current[0]} (copier.yml)" in older.stderr
    assert git(repo, "tag") == ""

    done = _release(repo, home, version)

    assert done.returncode == 0, done.stdout + done.stderr
    tag = f"v{version}"
    assert git(repo, "describe", "--exact-match", "HEAD").strip() == tag
    assert git(repo, "cat-file", "-t", tag).strip() == "tag", "an annotated tag"
    assert git(repo, "log", "-1", "--format=%s").strip() == f"Release {version}"
    changed = git(repo, "diff", "--name-only", "HEAD~1", "HEAD").split()
    assert changed == ["CHANGELOG.md", "copier.yml"]
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    assert VERSION_LINE.findall((repo / "copier.yml").read_text(encoding="utf-8")) == [version]
    dated = f"## [Unreleased]\n\n## [{version}] - {datetime.date.today().isoformat()}\n\n"
    assert dated + unreleased + "\n" in (repo / "CHANGELOG.md").read_text(encoding="utf-8")
    again = _release(repo, home, version)
    assert again.returncode == 1
    assert f"{version} is not after the released {tag}" in again.stderr

    dist = repo / "dist"
    assert sorted(path.name for path in dist.iterdir()) == [
        f"floe_scaffold-{version}-py3-none-any.whl",
        f"floe_scaffold-{version}.tar.gz",
    ]
    wheel = dist / f"floe_scaffold-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(f"floe_scaffold-{version}.dist-info/METADATA").decode()
    assert f"\nVersion: {version}\n" in metadata

    venv = _venv(tmp_path / "venv", wheel)
    init = _floe(venv, tmp_path, home, "init", "shop")
    assert init.returncode == 0, init.stdout + init.stderr
    project = tmp_path / "shop"
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["_commit"] == tag
    assert "floe_scaffold_version" not in answers, "each release's copier.yml gives its own"
    pin = f"floe-scaffold=={version}"
    pyproject = (project / "pyproject.toml").read_text(encoding="utf-8")
    assert f'"{pin}"' in pyproject
    readme = (project / "README.md").read_text(encoding="utf-8")
    workflow = (project / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8")
    steps = yaml.safe_load(workflow)["jobs"]["checks"]["steps"]
    for text in (readme, *(step["run"] for step in steps if "run" in step)):
        assert f'pip install "{pin}"' in text
    for name, text in {
        "pyproject.toml": pyproject,
        "README.md": readme,
        "ci.yml": workflow,
    }.items():
        assert _named_releases(text) == {version}, name


def test_a_wheel_build_refuses_uncommitted_template_changes(tmp_path: Path) -> None:
    """A wheel ships the committed template (projects record its commit): an edit not yet
    committed would ship under a commit that does not have it, so the build stops, naming it."""
    repo = tmp_path / "repo"
    checkout_copy(repo, "release candidate")
    (repo / "copier.yml").write_text(
        (repo / "copier.yml").read_text(encoding="utf-8") + "# not committed\n", encoding="utf-8"
    )
    done = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path / "dist")],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "the template has uncommitted changes (copier.yml)" in output
    assert "commit them first" in output
    assert not list(tmp_path.glob("dist/*.whl"))
