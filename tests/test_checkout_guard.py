"""The suite runs from a plain clone: the guard in conftest refuses paths beside the checkout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FORBIDDEN, OutsideCheckoutError
from tests.helpers import FIXTURES, ROOT


def test_opening_a_file_beside_the_checkout_is_refused() -> None:
    with pytest.raises(OutsideCheckoutError, match="tests read only the repository"):
        Path(FORBIDDEN, "fixtures", "anything.json").read_text(encoding="utf-8")


def test_listing_or_running_against_the_sibling_folder_is_refused() -> None:
    with pytest.raises(OutsideCheckoutError):
        list(Path(FORBIDDEN).iterdir())
    with pytest.raises(OutsideCheckoutError):
        subprocess.run([sys.executable, "-c", "pass"], cwd=FORBIDDEN, check=False)


def test_no_project_file_names_the_sibling_folder() -> None:
    # A static check beside the runtime guard: no source of the project spells a path to it.
    # Spelled in pieces so that this file does not hold the very strings it looks for.
    sibling = "shared"
    needles = (f"../{sibling}", f'parent / "{sibling}"', f"parents[1] / '{sibling}'")
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("floe_scaffold", "tests", "bench", "scripts", "template", ".ci")
        for path in (ROOT / folder).rglob("*")
        if path.is_file()
        and FIXTURES not in path.parents
        and path.suffix not in {".pyc", ".bundle"}
        and path != Path(__file__)
        and any(needle in path.read_text(encoding="utf-8", errors="ignore") for needle in needles)
    ]
    assert offenders == []


def test_every_fixture_folder_is_in_the_notice() -> None:
    notice = (FIXTURES / "NOTICE.md").read_text(encoding="utf-8")
    for folder in sorted(path for path in FIXTURES.iterdir() if path.is_dir()):
        assert f"`{folder.name}/" in notice, folder.name
