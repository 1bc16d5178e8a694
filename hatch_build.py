"""Build hook: ship the copier template inside the wheel as a git bundle.

``floe init`` / ``floe update`` render from ``floe_scaffold/_template/template.bundle`` (every
release tag plus the built commit) at the commit named in ``floe_scaffold/_template/ref``; see
``floe_scaffold/project/_source.py``. A project records the template's public URL and the commit,
so it can be updated later from any install of floe-scaffold, offline.

The bundle is made from the git checkout being built. An sdist carries the bundle it was built
with, so a wheel built from the sdist (no ``.git`` there) ships the same one. Editable installs
need no bundle: they render from the checkout itself.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

_SHIPPED = "floe_scaffold/_template"
_TEMPLATE_PATHS = ("copier.yml", "template")


class TemplateBundleHook(BuildHookInterface):  # type: ignore[type-arg]
    """Adds ``template.bundle`` and ``ref`` to wheels and sdists."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Make (or reuse) the bundle and have hatch include it."""
        if self.target_name == "wheel" and version == "editable":
            return
        root = Path(self.root)
        shipped = root / _SHIPPED
        if not (root / ".git").exists():
            if (shipped / "template.bundle").is_file() and (shipped / "ref").is_file():
                return  # building from an sdist: the bundle is already part of the package
            raise RuntimeError(
                f"cannot build floe-scaffold: {root} is neither a git checkout nor an sdist with "
                f"{_SHIPPED}/template.bundle; build from a git clone"
            )
        dirty = _git(root, "status", "--porcelain", "--untracked-files=all", "--", *_TEMPLATE_PATHS)
        if dirty:
            raise RuntimeError(
                "cannot build floe-scaffold: the template has uncommitted changes "
                f"({', '.join(line[3:] for line in dirty.splitlines()[:5])}); a wheel ships the "
                "committed template (projects record its commit), so commit them first"
            )
        self._scratch = Path(tempfile.mkdtemp(prefix="floe-build-"))
        bundle, ref = self._scratch / "template.bundle", self._scratch / "ref"
        _git(root, "bundle", "create", "-q", str(bundle), "--tags", "HEAD")
        ref.write_text(_git(root, "rev-parse", "HEAD") + "\n", encoding="utf-8")
        build_data["force_include"][str(bundle)] = f"{_SHIPPED}/template.bundle"
        build_data["force_include"][str(ref)] = f"{_SHIPPED}/ref"

    def finalize(self, *_: object) -> None:
        """Remove the scratch directory."""
        scratch = getattr(self, "_scratch", None)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {done.stderr.strip()}")
    return done.stdout.rstrip()  # not lstrip: `status --porcelain` lines start with a space
