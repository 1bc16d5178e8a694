"""dbt packages: run ``dbt deps`` when a project declares packages that are not installed.

A dbt project that declares packages (``packages.yml``, or ``packages:`` in ``dependencies.yml``)
cannot be parsed until ``dbt deps`` has installed them into its ``packages-install-path``
(``dbt_packages/`` by default). Here that step is taken for the user, and only when needed: after
a successful ``dbt deps`` a fingerprint of the declaration and of ``package-lock.yml`` is kept in
the install folder, and ``dbt deps`` runs again only when the folder or the fingerprint is
missing, or the declaration or the lock changed since.

An install folder made by the user's own ``dbt deps`` (no fingerprint yet) is adopted when it
holds at least as many packages as are declared (dbt's own check), so a project that works
offline keeps working offline.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from floe_scaffold._bounded import read_config_text

__all__ = ["DeclaredPackages", "declared_packages", "ensure_packages", "packages_fingerprint"]

_STAMP = ".floe_deps.fingerprint"
_DECLARATIONS = ("packages.yml", "dependencies.yml")
_LOCK = "package-lock.yml"


@dataclass(frozen=True)
class DeclaredPackages:
    """The packages a dbt project declares: where, how many, and where dbt installs them."""

    declaration: Path
    count: int
    install_dir: Path


def _load(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(read_config_text(path))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        # dbt itself reports a malformed file (with its own message) when it runs.
        return {}
    return loaded if isinstance(loaded, dict) else {}


def declared_packages(project_dir: Path) -> DeclaredPackages | None:
    """The project's package declaration, or None when it declares no package."""
    for name in _DECLARATIONS:
        path = project_dir / name
        if not path.is_file():
            continue
        packages = _load(path).get("packages")
        if isinstance(packages, list) and packages:
            project = _load(project_dir / "dbt_project.yml")
            install = str(project.get("packages-install-path") or "dbt_packages")
            return DeclaredPackages(path, len(packages), project_dir / install)
    return None


def packages_fingerprint(project_dir: Path, declared: DeclaredPackages) -> str:
    """A digest of the declaration and the lock file (their bytes), and the install folder."""
    digest = hashlib.sha256()
    for path in (declared.declaration, project_dir / _LOCK):
        try:
            content = path.read_bytes()
        except OSError:
            content = b""
        digest.update(f"{path.name}\0{len(content)}\0".encode())
        digest.update(content)
    digest.update(str(declared.install_dir).encode())
    return digest.hexdigest()


def _installed(install_dir: Path) -> int:
    try:
        return sum(1 for entry in os.scandir(install_dir) if entry.is_dir())
    except OSError:
        return 0


def ensure_packages(
    project_dir: Path, run_deps: Callable[[Sequence[str]], None], command: Sequence[str]
) -> bool:
    """Install the project's declared packages if they are missing or stale.

    ``run_deps(command)`` runs ``dbt deps`` (and raises a clear error when it fails).

    Returns:
        True if ``dbt deps`` ran, False when nothing was needed.

    """
    declared = declared_packages(project_dir)
    if declared is None:
        return False
    stamp = declared.install_dir / _STAMP
    current = packages_fingerprint(project_dir, declared)
    try:
        recorded: str | None = stamp.read_text(encoding="utf-8")
    except OSError:
        recorded = None
    if recorded == current and declared.install_dir.is_dir():
        return False
    if recorded is None and _installed(declared.install_dir) >= declared.count:
        # Installed by the user's own `dbt deps`: adopt it rather than reach for the network.
        _write_stamp(stamp, current)
        return False
    run_deps(command)
    # `dbt deps` writes package-lock.yml, so the fingerprint is taken after it ran.
    _write_stamp(stamp, packages_fingerprint(project_dir, declared))
    return True


def _write_stamp(stamp: Path, fingerprint: str) -> None:
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(fingerprint, encoding="utf-8")
    except OSError:
        # A read-only install folder (an image) only means the check runs again next time.
        pass
