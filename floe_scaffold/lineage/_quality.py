"""dbt data tests as OpenLineage test jobs: one per tested node, as dbt-ol groups them, live.

dbt-ol (default mode) names one test job per tested model or source and puts every assertion
on it in one ``dataQualityAssertions`` facet; the tested node of a test is its *last* model,
source or seed parent in the manifest's ``parent_map`` (so a ``relationships`` test counts for
the model it refers to, when that one sorts last). floe streams events while dbt runs, so a
group's START goes out when the first of its tests starts, and its COMPLETE or FAIL when the
last of its tests in the manifest has reported, or, for tests this invocation did not run (a
selection), when the invocation ends. The group FAILs when an assertion failed with a severity
other than ``warn``; a test dbt skipped is an assertion that did not succeed (dbt-ol's rules).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from openlineage.client.uuid import generate_new_uuid

__all__ = [
    "AssertionGroup",
    "DataTestGroups",
    "assertion",
    "singular_execution",
    "tested_node_id",
]

_TESTED_PREFIXES = ("model.", "source.", "seed.")
_MEASURED = {"pass", "fail", "warn"}


def tested_node_id(test_id: str, parent_map: Mapping[str, Any]) -> str | None:
    """The node a data test counts for: its last model, source or seed parent (dbt-ol's)."""
    tested = None
    for parent in parent_map.get(test_id) or []:
        if str(parent).startswith(_TESTED_PREFIXES):
            tested = str(parent)
    return tested


def _severity(test: Mapping[str, Any]) -> str | None:
    severity = (test.get("config") or {}).get("severity")
    return str(severity).lower() if severity else None


def _expected(config: Mapping[str, Any], severity: str | None) -> str:
    """Dbt's ``error_if`` / ``warn_if`` threshold as the expected failure count (dbt-ol's)."""
    threshold = config.get("warn_if" if severity == "warn" else "error_if")
    if threshold is None or "".join(str(threshold).split()) == "!=0":
        return "0"
    return str(threshold)


def _measured(
    test: Mapping[str, Any], status: str, failures: int | None
) -> tuple[str | None, str | None]:
    """``(actual, expected)`` where dbt counted failing rows, else ``(None, None)``."""
    if failures is None or status not in _MEASURED:
        return None, None
    return str(failures), _expected(test.get("config") or {}, _severity(test))


def assertion(test: Mapping[str, Any], status: str, failures: int | None) -> dict[str, Any]:
    """One ``dataQualityAssertions`` entry for a finished data test."""
    metadata = test.get("test_metadata") or {}
    actual, expected = _measured(test, status, failures)
    return {
        "assertion": str(metadata.get("name") or test["name"]),
        "name": str(test["name"]),
        "success": status == "pass",
        "column": (metadata.get("kwargs") or {}).get("column_name") or test.get("column_name"),
        "severity": _severity(test),
        "actual": actual,
        "expected": expected,
    }


def singular_execution(
    test: Mapping[str, Any], status: str, failures: int | None
) -> dict[str, Any]:
    """The ``TestExecution`` of a singular test's own job (dbt-ol's ``test`` run facet)."""
    actual, expected = _measured(test, status, failures)
    return {
        "name": str(test["unique_id"]),
        "status": "pass" if status == "pass" else "fail",
        "severity": _severity(test) or "error",
        "actual": actual,
        "expected": expected,
    }


@dataclass
class AssertionGroup:
    """The test job of one tested node in one invocation."""

    tested_id: str
    pending: set[str]
    run_id: str = field(default_factory=lambda: str(generate_new_uuid()))
    started_at: str | None = None
    finished_at: str | None = None
    trace: tuple[str, str] | None = None
    assertions: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Whether an assertion failed with a severity other than ``warn``."""
        return any(not a["success"] and a["severity"] != "warn" for a in self.assertions)


class DataTestGroups:
    """The data tests of a manifest by tested node, and the open groups of one invocation."""

    def __init__(self, manifest: Mapping[str, Any]) -> None:
        parent_map = manifest.get("parent_map") or {}
        self._tested: dict[str, str] = {}
        self._tests_of: dict[str, set[str]] = {}
        for unique_id, node in (manifest.get("nodes") or {}).items():
            if node.get("resource_type") != "test":
                continue
            tested = tested_node_id(unique_id, parent_map)
            if tested is not None:
                self._tested[unique_id] = tested
                self._tests_of.setdefault(tested, set()).add(unique_id)
        self._open: dict[str, AssertionGroup] = {}

    def tested_of(self, test_id: str) -> str | None:
        """The tested node of a data test (None: dbt-ol drops such a test too)."""
        return self._tested.get(test_id)

    def group_of(self, test_id: str) -> AssertionGroup | None:
        """The open group a started test belongs to."""
        tested = self._tested.get(test_id)
        return self._open.get(tested) if tested is not None else None

    def start(
        self, test_id: str, when: str | None, trace: tuple[str, str] | None
    ) -> AssertionGroup | None:
        """Note a started test; returns its group when this test opened it (send START)."""
        tested = self._tested.get(test_id)
        if tested is None or tested in self._open:
            return None
        group = AssertionGroup(tested, set(self._tests_of[tested]), started_at=when, trace=trace)
        self._open[tested] = group
        return group

    def finish(
        self, test_id: str, result: dict[str, Any], when: str | None, error: str | None
    ) -> AssertionGroup | None:
        """Record a test's result; returns its group once its last test reported."""
        group = self.group_of(test_id)
        if group is None or test_id not in group.pending:
            return None
        group.pending.discard(test_id)
        group.assertions.append(result)
        if error:
            group.errors.append(f"{result['name']}: {error}")
        group.finished_at = max(filter(None, (group.finished_at, when)), default=None)
        if group.pending:
            return None
        return self._open.pop(group.tested_id)

    def close_all(self) -> list[AssertionGroup]:
        """Every group still open (its other tests did not run in this invocation)."""
        groups = list(self._open.values())
        self._open.clear()
        return groups
