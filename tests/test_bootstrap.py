"""scripts/bootstrap's system packages: a Java runtime is among them when `java` is missing.

The script's own detection, run with ``--system-packages`` (it prints what it would install and
changes nothing) and a ``PATH`` of a scratch directory holding only the tools it calls, so which
commands exist is decided here, not by this machine.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BOOTSTRAP = ROOT / "scripts" / "bootstrap"
#: What the script calls before it decides (bash runs it; `dirname` finds the checkout).
TOOLS = ("bash", "dirname", "grep", "id")

pytestmark = pytest.mark.skipif(
    sys.platform == "win32" or any(shutil.which(tool) is None for tool in TOOLS),
    reason="needs bash and coreutils",
)


def _missing(tmp_path: Path, *present: str) -> list[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in (*TOOLS, *present):
        (bin_dir / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    done = subprocess.run(
        [str(bin_dir / "bash"), str(BOOTSTRAP), "--system-packages"],
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_a_missing_java_is_installed_with_the_other_system_packages(tmp_path: Path) -> None:
    missing = _missing(tmp_path)
    assert "default-jre-headless" in missing
    assert {"buildah", "debootstrap", "chromium"} <= set(missing)


@pytest.mark.skipif(shutil.which("java") is None, reason="needs a java on PATH to offer")
def test_a_java_on_path_is_not_installed_again(tmp_path: Path) -> None:
    assert "default-jre-headless" not in _missing(tmp_path, "java")
