"""Rendering the template with copier into a fresh directory (never into the destination)."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

from copier import Settings, run_copy

from floe_scaffold.project._context import RenderContext
from floe_scaffold.project._template import copy_template_to

__all__ = ["render_to"]


def render_to(context: RenderContext, output: Path) -> dict[str, bytes]:
    """Render the project into ``output`` (which must be empty) and return its files."""
    with tempfile.TemporaryDirectory(prefix="floe-template-") as template:
        source = copy_template_to(Path(template))
        with warnings.catch_warnings():
            # copier warns that a plain-directory template records no version; `floe update`
            # tracks the version itself.
            warnings.simplefilter("ignore")
            run_copy(
                str(source),
                output,
                data={"floe": context.model_dump(mode="json")},
                defaults=True,
                overwrite=True,
                quiet=True,
                unsafe=False,
                settings=Settings(),
            )
    return {
        path.relative_to(output).as_posix(): path.read_bytes()
        for path in sorted(output.rglob("*"))
        if path.is_file()
    }
