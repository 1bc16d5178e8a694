"""Rendering the template with copier into a fresh directory (never into the destination)."""

from __future__ import annotations

import warnings
from pathlib import Path

from floe_scaffold.project._context import RenderContext
from floe_scaffold.project._copier import copier_errors
from floe_scaffold.project._source import TEMPLATE_URL, TemplateSource, copier_environment

__all__ = ["render_to", "tree_files"]


def render_to(context: RenderContext, output: Path, source: TemplateSource) -> dict[str, bytes]:
    """Render the project into ``output`` (which must be empty) and return its files."""
    from copier import Settings, run_copy

    with copier_environment(source), copier_errors(), warnings.catch_warnings():
        # copier warns about a template without release tags; floe records the commit anyway.
        warnings.simplefilter("ignore")
        run_copy(
            TEMPLATE_URL,
            output,
            data={"floe": context.model_dump(mode="json")},
            vcs_ref=source.ref,
            defaults=True,
            overwrite=True,
            quiet=True,
            unsafe=False,
            settings=Settings(),
        )
    return tree_files(output)


def tree_files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (POSIX relative path → bytes), ``.git`` left out."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(root).parts[:1]
    }
