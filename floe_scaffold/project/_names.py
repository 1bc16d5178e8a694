"""Project names: the distribution name and the Python package a destination becomes."""

from __future__ import annotations

import functools
import keyword
import re
import sys
import unicodedata
from dataclasses import dataclass
from importlib import metadata

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

#: Distributions whose import closure the generated project runs in (its dependencies and the
#: adapters of every target); a package named like one of their modules would shadow it.
_ROOTS = (
    "floe-scaffold",
    "pytest",
    "dagster-dg-cli",
    *(f"dbt-{target}" for target in ("duckdb", "postgres", "snowflake", "bigquery")),
    *(f"dbt-{target}" for target in ("redshift", "databricks", "spark")),
)


@dataclass(frozen=True)
class ProjectNames:
    """``jaffle-shop`` (distribution) and ``jaffle_shop`` (import package) of one project."""

    distribution: str
    package: str
    #: what the name was given as, when normalizing changed it (``café`` → ``cafe``)
    given: str | None = None


def project_names(raw: str) -> ProjectNames | Issue:
    """Normalize ``raw`` (a directory name or ``--name``) into names, or say why it cannot be.

    Accents are dropped (``café`` → ``cafe``), letters lower-cased and runs of other characters
    become ``_`` (``My Shop!`` → ``my_shop``); ``given`` keeps the name when that changed it. A
    name that starts with a digit, is a Python keyword, or would shadow a standard-library
    module or a module the generated project imports (``yaml``, ``pydantic``, ``dagster``…) is
    refused, with that reason.
    """
    ascii_only = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode()
    package = re.sub(r"[^a-z0-9]+", "_", ascii_only.strip().lower()).strip("_")
    fix = "pass --name with letters, digits and '_' (e.g. --name jaffle_shop)"
    became = f"{raw!r} (as {package!r})" if package != raw else repr(package)
    if not package:
        return Issue("name", f"{raw!r} has no letters or digits to make a project name; {fix}")
    if package[0].isdigit():
        return Issue("name", f"{became} starts with a digit, which Python cannot import; {fix}")
    if keyword.iskeyword(package) or keyword.issoftkeyword(package):
        return Issue("name", f"{became} is a Python keyword, which cannot name a package; {fix}")
    if package in sys.stdlib_module_names:
        return Issue("name", f"{became} would shadow the standard-library module {package}; {fix}")
    if package in _RESERVED or package in imported_modules():
        return Issue(
            "name", f"{became} would shadow the module {package} the project imports; {fix}"
        )
    if len(package) > 64:
        return Issue("name", f"{package[:20]!r}... is longer than 64 characters; {fix}")
    return ProjectNames(
        distribution=package.replace("_", "-"),
        package=package,
        given=raw if package != raw else None,
    )


@functools.cache
def imported_modules() -> frozenset[str]:
    """Top-level modules of every installed distribution the generated project depends on."""
    modules_of: dict[str, set[str]] = {}
    for module, distributions in metadata.packages_distributions().items():
        for distribution in distributions:
            modules_of.setdefault(_canonical(distribution), set()).add(module.lower())
    seen: set[str] = set()
    todo = list(_ROOTS)
    while todo:
        name = _canonical(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            continue
        for requirement in requires:
            match = re.match(r"[A-Za-z0-9._-]+", requirement)
            if match and "extra ==" not in requirement:
                todo.append(match.group())
    return frozenset(module for name in seen for module in modules_of.get(name, ()))


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
