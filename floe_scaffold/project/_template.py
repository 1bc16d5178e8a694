"""Where the copier template is: the source checkout, or the copy shipped in the wheel."""

from __future__ import annotations

import shutil
from pathlib import Path

__all__ = ["copy_template_to"]

_PACKAGE = Path(__file__).resolve().parents[1]


def _template_root() -> Path:
    shipped = _PACKAGE / "_template"
    if (shipped / "copier.yml").is_file():
        return shipped
    checkout = _PACKAGE.parent
    if (checkout / "copier.yml").is_file() and (checkout / "template").is_dir():
        return checkout
    raise FileNotFoundError(  # pragma: no cover - a broken install
        f"floe-scaffold's template is missing (looked in {shipped} and {checkout}); reinstall"
    )


def copy_template_to(directory: Path) -> Path:
    """Copy ``copier.yml`` and ``template/`` into ``directory`` (a plain, non-git folder).

    Rendering from a plain copy means uncommitted edits of a source checkout are used as they are
    and no git state of the checkout leaks into the render.
    """
    root = _template_root()
    shutil.copy2(root / "copier.yml", directory / "copier.yml")
    shutil.copytree(
        root / "template",
        directory / "template",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    return directory
