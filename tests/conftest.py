"""Shared fixtures: running the ``floe`` CLI in-process, and tool versions in the report header.

It also installs a guard: the suite must run from a plain clone, so any attempt of this process
to open, list or hand a subprocess a path in a ``shared/`` folder beside the checkout (where this
project's reference material lives on the developers' machines, and nowhere else) raises
:class:`OutsideCheckoutError`. Fixtures live in ``tests/fixtures/``.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Iterable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from floe_scaffold._cli import main
from tests.helpers import ROOT, CliResult, FloeRunner

#: Every property test runs fixed examples: the same ones on every machine and every run, so a
#: CI failure reproduces at once and a green run means the same inputs passed. Each test's own
#: ``@settings`` inherits this (only what it names differs).
settings.register_profile("floe", derandomize=True, database=None, print_blob=True)
settings.load_profile("floe")

#: The sibling folder a test must never read: a user's clone has nothing beside it.
FORBIDDEN = str(ROOT.parent.resolve() / "shared")
_PATH_EVENTS = {"open", "os.listdir", "os.scandir", "os.chdir", "shutil.copytree", "glob.glob"}


class OutsideCheckoutError(RuntimeError):
    """A test reached for a path outside the repository."""


def _reaches_outside(values: Iterable[Any]) -> str | None:
    for value in values:
        if isinstance(value, (list, tuple)):
            found = _reaches_outside(value)
            if found:
                return found
        elif isinstance(value, (str, bytes, os.PathLike)):
            text = os.fsdecode(value)
            # abspath is a pure string operation: safe inside an audit hook.
            if FORBIDDEN in text or FORBIDDEN in os.path.abspath(text):  # noqa: PTH100
                return text
    return None


def _guard(event: str, args: tuple[Any, ...]) -> None:
    if event in _PATH_EVENTS:
        found = _reaches_outside(args[:1])
    elif event == "subprocess.Popen":
        found = _reaches_outside(args[:2]) or _reaches_outside(args[2:3])
    else:
        return
    if found:
        raise OutsideCheckoutError(
            f"{event} of {found!r}: tests read only the repository (copy fixtures into "
            "tests/fixtures/ with a NOTICE line)"
        )


sys.addaudithook(_guard)


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


#: Modules that test the suite's own instruments (receivers, the checkout guard), not floe.
INFRASTRUCTURE = frozenset(
    {
        "tests/observability/test_receiver.py",
        "tests/observability/test_otlp_receiver.py",
        "tests/test_checkout_guard.py",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(item.path).relative_to(ROOT).as_posix() in INFRASTRUCTURE:
            item.add_marker(pytest.mark.infrastructure)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Count product tests apart from tests of the test infrastructure, so green means floe."""
    counts: Counter[tuple[str, str]] = Counter()
    for outcome in ("passed", "failed", "skipped", "error", "xfailed", "xpassed"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", "call") != "call" and outcome == "passed":
                continue
            kind = "infrastructure" if "infrastructure" in report.keywords else "product"
            counts[(kind, outcome)] += 1
    if not counts:
        return
    for kind, title in (("product", "product tests"), ("infrastructure", "test infrastructure")):
        found = {outcome: n for (k, outcome), n in counts.items() if k == kind}
        if found:
            text = ", ".join(f"{n} {outcome}" for outcome, n in sorted(found.items()))
            terminalreporter.write_line(f"{title}: {text}")
    weaker = sorted(
        f"{report.nodeid}: {why}"
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "call"
        for name, why in getattr(report, "user_properties", ())
        if name == "weakened"
    )
    if weaker:
        terminalreporter.write_line(f"weakened on this machine ({len(weaker)}, tests.helpers):")
        for line in weaker:
            terminalreporter.write_line(f"  {line}")


@pytest.fixture(autouse=True)
def _dagster_warnings_switched_back_on() -> None:
    """Dagster keeps "its warnings are off" in a ContextVar that ``disable_dagster_warnings()``
    sets and resets. A generator left suspended inside that block (an event stream an earlier
    test stopped reading) leaves it off for the rest of the worker, and Dagster's guard then
    does nothing: the warnings it means to silence while loading a defs folder (its own preview
    notices, pydantic's ``parse_obj_as`` deprecation) reach ``filterwarnings = error``; the
    generator's late ``finally`` can also switch it back on in the middle of a later load. A
    schedule test failed so in two CI runs. Each test starts with it on, as a process does."""
    from dagster_shared.utils.warnings import _warnings_on

    _warnings_on.set(True)
