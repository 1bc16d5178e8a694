"""Where the copier template comes from, and how copier reaches it without a network.

Every project records the same template address, :data:`TEMPLATE_URL`, as copier's
``_src_path``: a public git URL, valid on any machine. While floe runs copier, git is told (in
the environment of that one call only, ``url.<location>.insteadOf``) to read that URL from the
installed template instead:

* an installed wheel carries ``floe_scaffold/_template/template.bundle``, a git bundle of the
  template repository with every release tag, and ``floe_scaffold/_template/ref``, the commit
  the wheel was built from (``hatch_build.py`` writes both);
* a source checkout (editable install) is itself the template repository. Uncommitted template
  changes are committed into a temporary snapshot repository first, so developers render what
  they see; such a render records a commit that exists nowhere else, and floe says so.

Because the bundle holds every tag, ``floe update`` re-renders a project's old template version
after ``pip install -U``, from another install path or another machine, offline. Plain ``copier
update`` in a generated project reaches the same URL over the network.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from floe_scaffold.errors import SystemFailureError
from floe_scaffold.project._git import IDENTITY, git_text
from floe_scaffold.project._scratch import scratch_dir

__all__ = [
    "TEMPLATE_URL",
    "TemplateSource",
    "checkout_template",
    "copier_environment",
    "installed_template",
]

TEMPLATE_URL = "https://github.com/floe-runtime/floe-scaffold.git"

_PACKAGE = Path(__file__).resolve().parents[1]
_SHIPPED = _PACKAGE / "_template"
_TEMPLATE_PATHS = ("copier.yml", "template")


@dataclass(frozen=True)
class TemplateSource:
    """A template repository floe renders from, and the commit to render.

    Attributes:
        location: a git bundle file or a git repository (work tree or bare) holding the template.
        ref: the commit (or tag) to render; recorded by copier as ``_commit``.
        draft: the commit exists only in a temporary snapshot of uncommitted template changes.

    """

    location: Path
    ref: str
    draft: bool = False


def _git(cwd: Path, *args: str) -> str:
    return git_text(cwd, *args).strip()


@contextlib.contextmanager
def installed_template() -> Iterator[TemplateSource]:
    """The template of this installation of floe-scaffold (valid inside the ``with`` block)."""
    bundle = _SHIPPED / "template.bundle"
    if bundle.is_file():
        ref = (_SHIPPED / "ref").read_text(encoding="utf-8").strip()
        yield TemplateSource(bundle, ref)
        return
    checkout = _PACKAGE.parent
    if not ((checkout / ".git").exists() and (checkout / "copier.yml").is_file()):
        raise SystemFailureError(
            f"floe-scaffold's template is missing: no {bundle} and no git checkout at "
            f"{checkout}; reinstall floe-scaffold from a wheel or a git clone"
        )
    with checkout_template(checkout) as source:
        yield source


@contextlib.contextmanager
def checkout_template(checkout: Path) -> Iterator[TemplateSource]:
    """The template of a git checkout: its HEAD, or a draft commit of uncommitted changes."""
    dirty = _git(checkout, "status", "--porcelain", "--untracked-files=all", "--", *_TEMPLATE_PATHS)
    if not dirty:
        yield TemplateSource(checkout, _git(checkout, "rev-parse", "HEAD"))
        return
    with scratch_dir("floe-template-draft-") as scratch:
        yield _draft_snapshot(checkout, scratch / "template")


def _draft_snapshot(checkout: Path, snapshot: Path) -> TemplateSource:
    """Commit the checkout's uncommitted template files into a throwaway clone of it."""
    _git(checkout, "clone", "-q", "--shared", "--no-checkout", str(checkout), str(snapshot))
    _git(snapshot, "checkout", "-q", "--detach", _git(checkout, "rev-parse", "HEAD"))
    for name in _TEMPLATE_PATHS:
        source, target = checkout / name, snapshot / name
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif source.is_file():
            shutil.copy2(source, target)
    _git(snapshot, "add", "-A", "--", *_TEMPLATE_PATHS)
    _git(snapshot, *IDENTITY, "commit", "-q", "--no-verify", "-m", "floe: draft template")
    return TemplateSource(snapshot, _git(snapshot, "rev-parse", "HEAD"), draft=True)


@contextlib.contextmanager
def copier_environment(source: TemplateSource) -> Iterator[None]:
    """Run copier (inside the block) with :data:`TEMPLATE_URL` read from ``source``.

    The redirect lives only in this process's environment while the block runs (copier's git
    calls go through plumbum, which copied the environment at import, hence ``local.env``), and
    copier's mirror cache is a fresh temporary directory: a cache keyed by the public URL but
    filled from the bundle must never be seen by a later plain ``copier update``.
    """
    from plumbum import local  # copier's own subprocess layer; imported with copier

    existing = int(os.environ.get("GIT_CONFIG_COUNT", "0") or "0")
    with scratch_dir("floe-copier-cache-") as cache:
        overrides = {
            "GIT_CONFIG_COUNT": str(existing + 1),
            f"GIT_CONFIG_KEY_{existing}": f"url.{source.location}.insteadOf",
            f"GIT_CONFIG_VALUE_{existing}": TEMPLATE_URL,
            "COPIER_CACHE_DIR": str(cache),
            # The template never needs a terminal prompt; fail instead of waiting for one.
            "GIT_TERMINAL_PROMPT": "0",
        }
        saved = {name: os.environ.get(name) for name in overrides}
        os.environ.update(overrides)
        try:
            with local.env(**overrides):
                yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
