"""One line that says which machine and tool versions a set of figures came from."""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return f", {int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
    except OSError:
        pass
    return ""


def _versions() -> str:
    return ", ".join(f"{name} {_version(name)}" for name in ("dagster", "dagster-dbt", "dbt-core"))


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "absent"


def machine() -> str:
    """E.g. ``Linux x86_64, AMD EPYC, 2 cores, 24 GiB RAM; Python 3.11.7; dagster 1.13 …``."""
    return (
        f"{platform.system()} {platform.machine()}, {_cpu()}, {os.cpu_count()} cores{_memory()}; "
        f"Python {platform.python_version()}; {_versions()}"
    )
