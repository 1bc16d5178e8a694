"""Shared fixtures: running the ``floe`` CLI in-process, and tool versions in the report header."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from floe_scaffold._cli import main
from tests.helpers import CliResult, FloeRunner


@pytest.fixture
def floe(capsys: pytest.CaptureFixture[str]) -> FloeRunner:
    """Call ``floe`` in-process: ``floe("validate", path)`` → :class:`CliResult`."""

    def invoke(*args: object) -> CliResult:
        capsys.readouterr()
        code = main([str(arg) for arg in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return invoke


def pytest_report_header() -> list[str]:
    names = ["dbt-core", "dagster", "dagster-dbt", "copier", "pydantic", "openlineage-python"]
    return ["tools: " + ", ".join(f"{name} {version(name)}" for name in names)]
