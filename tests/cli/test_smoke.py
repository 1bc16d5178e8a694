from __future__ import annotations

import pytest

from tests.helpers import GOLDEN_PATHS, FloeRunner


@pytest.mark.parametrize("path", GOLDEN_PATHS, ids=lambda p: p.stem)
def test_validate_accepts_golden(floe: FloeRunner, path: object) -> None:
    result = floe("validate", path)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("valid\n")
