"""Project names: the distribution name and the Python package a destination becomes."""

from __future__ import annotations

import keyword
import re
import sys
from dataclasses import dataclass

from floe_scaffold.errors import Issue

__all__ = ["ProjectNames", "project_names"]

# Names a generated package must not take: it would shadow what the project imports.
_RESERVED = {
    "dagster",
    "dagster_dbt",
    "dbt",
    "floe_scaffold",
    "pytest",
    "tests",
    "test",
    "src",
    "setup",
    "site",
}


@dataclass(frozen=True)
class ProjectNames:
    """``jaffle-shop`` (distribution) and ``jaffle_shop`` (import package) of one project."""

    distribution: str
    package: str


def project_names(raw: str) -> ProjectNames | Issue:
    """Normalize ``raw`` (a directory name or ``--name``) into names, or say why it cannot be.

    Letters are lower-cased and runs of other characters become ``_`` (``My Shop!`` →
    ``my_shop``); a name that starts with a digit, is a Python keyword or would shadow a module
    the project imports is refused.
    """
    package = re.sub(r"[^a-z0-9]+", "_", raw.strip().lower()).strip("_")
    fix = "pass --name with letters, digits and '_' (e.g. --name jaffle_shop)"
    if not package:
        return Issue("name", f"{raw!r} has no letters or digits to make a project name; {fix}")
    if package[0].isdigit():
        return Issue("name", f"{package!r} starts with a digit, which Python cannot import; {fix}")
    if keyword.iskeyword(package) or package in _RESERVED or package in sys.stdlib_module_names:
        return Issue("name", f"{package!r} would shadow a module the project imports; {fix}")
    if len(package) > 64:
        return Issue("name", f"{package[:20]!r}... is longer than 64 characters; {fix}")
    return ProjectNames(distribution=package.replace("_", "-"), package=package)
