"""Template repositories for update tests: real git repos with real release tags.

A :class:`TemplateRepo` starts as a snapshot of this checkout's working tree (``copier.yml`` and
``template/``, uncommitted edits included), committed and tagged ``v0.1.0``; each ``release``
changes files, commits and tags again.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from floe_scaffold.project import TEMPLATE_URL, TemplateSource
from tests.helpers import ROOT

IDENTITY = ("-c", "user.name=test", "-c", "user.email=test@localhost")


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd``; fail the test with git's words if it fails."""
    done = subprocess.run(
        ["git", *IDENTITY, *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


class TemplateRepo:
    """A git repository holding floe's template, released tag by tag."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        shutil.copy2(ROOT / "copier.yml", path / "copier.yml")
        shutil.copytree(
            ROOT / "template",
            path / "template",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        git(path, "init", "-q")
        self._commit("v0.1.0")

    def _commit(self, tag: str) -> None:
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "--no-verify", "-m", f"release {tag}")
        git(self.path, "tag", tag)

    def release(self, tag: str, change: Callable[[Path], None]) -> TemplateSource:
        """Apply ``change`` to the template directory, commit, tag ``tag``."""
        change(self.path / "template")
        self._commit(tag)
        return self.source(tag)

    def source(self, tag: str) -> TemplateSource:
        """The template at ``tag``, as floe renders it."""
        return TemplateSource(self.path, tag)

    def git_env(self, cache: Path) -> dict[str, str]:
        """An environment where plain git/copier read floe's public URL from this repository."""
        return template_url_env(self.path, cache)


def template_url_env(location: Path, cache: Path) -> dict[str, str]:
    """An environment where plain git/copier read floe's public URL from ``location``."""
    return {
        **os.environ,
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"url.{location}.insteadOf",
        "GIT_CONFIG_VALUE_0": TEMPLATE_URL,
        "COPIER_CACHE_DIR": str(cache),
    }


def checkout_copy(dest: Path, message: str, tag: str | None = None) -> Path:
    """This checkout's files (uncommitted edits included, ignored ones left out) committed once in
    a new repository at ``dest``, tagged ``tag`` if given, as a fresh clone of it would be."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "--no-verify", "-m", message)
    if tag is not None:
        git(dest, "tag", tag)
    return dest


def replace_in(path: Path, old: str, new: str) -> None:
    """Replace ``old`` (which must be there) by ``new`` in a text file."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def set_release_version(template: Path, version: str) -> None:
    """Make the template (``template/`` of a TemplateRepo) name ``version`` as its release.

    The version is written once, in ``copier.yml``'s ``floe_scaffold_version``; the pin, README
    and CI workflow of a rendered project take it from there.
    """
    copier_yml = template.parent / "copier.yml"
    text = copier_yml.read_text(encoding="utf-8")
    line = re.compile(r'(?m)^(floe_scaffold_version: \{type: str, default: ")[^"]+"')
    assert len(line.findall(text)) == 1, f"no floe_scaffold_version line in {copier_yml}"
    copier_yml.write_text(line.sub(rf'\g<1>{version}"', text), encoding="utf-8")


def tree(root: Path) -> dict[str, bytes]:
    """Every file of a work tree except git's own."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.relative_to(root).parts[0] != ".git"
    }
