"""Finding a generated project's parts from its root: package, definitions, dbt project."""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path

from floe_scaffold._bounded import MAX_PROJECT_FILE, read_bounded
from floe_scaffold.errors import InputFileError

__all__ = ["ProjectLayout", "locate_project", "tomllib"]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@dataclass(frozen=True)
class ProjectLayout:
    """A project's root, its Python package, and where that package's source lives."""

    root: Path
    package: str
    source_dir: Path

    def import_definitions(self) -> object:
        """Import ``<package>.definitions`` (from ``src/`` even when not installed)."""
        if str(self.source_dir) not in sys.path:
            sys.path.insert(0, str(self.source_dir))
        return importlib.import_module(f"{self.package}.definitions")


def locate_project(start: Path) -> ProjectLayout:
    """The generated project containing ``start`` (its ``pyproject.toml`` names the package)."""
    start = start.absolute()
    for root in (start, *start.parents):
        pyproject = root / "pyproject.toml"
        if not pyproject.exists():
            continue
        try:
            config = tomllib.loads(read_bounded(pyproject, MAX_PROJECT_FILE).decode("utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            raise InputFileError(f"{pyproject}: cannot read it ({error})") from None
        package = config.get("tool", {}).get("dg", {}).get("project", {}).get("root_module")
        if isinstance(package, str) and package:
            return ProjectLayout(root, package, root / "src")
    raise InputFileError(
        f"{start} is not inside a generated project (no pyproject.toml with "
        "[tool.dg.project] root_module); run `floe init` first, or pass --project-dir"
    )
