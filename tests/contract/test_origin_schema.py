"""The origin's own JSON Schema as an independent oracle for the contract model.

``compiled-artifacts.v1.0.0.schema.json`` is the schema floe-core exported for CompiledArtifacts
v1.0.0 (a fixture, copied from the origin; see tests/fixtures/NOTICE.md). It was written by
somebody else, so it can catch what a comparison of our model with its own
``model_json_schema()`` cannot. floe differs from it only where the README ("The contract") says:

* it also takes two spellings users already have on disk: top-level ``$schema`` / ``$comment``,
  and ``consumption.security.filter_column``, the later name of ``tenant_column``;
* it refuses more: paths that leave the project, a version of another major (or not semver),
  and a secret ref that is not a Kubernetes Secret name (lowercase RFC 1123 subdomain);
* a Kubernetes Secret name may hold dots (``pg.analytics``), which the origin's secret-ref
  pattern refuses: floe takes them, since they name valid Secrets.

Everything else must agree: what floe accepts the origin accepts, and what the origin refuses
floe refuses.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given, settings
from jsonschema import Draft202012Validator, FormatChecker, ValidationError

from tests.contract.test_contract_properties import (
    CONTRACTS,
    Mutation,
    model_accepts,
    mutations,
)
from tests.helpers import CONTRACTS_DIR, GOLDEN_PATHS

ORIGIN_SCHEMA = json.loads(
    (CONTRACTS_DIR / "compiled-artifacts.v1.0.0.schema.json").read_text(encoding="utf-8")
)
ORIGIN = Draft202012Validator(ORIGIN_SCHEMA, format_checker=FormatChecker())

#: Mutation kinds where floe is deliberately stricter than the origin's schema (README).
STRICTER = {"bad_path", "bad_version", "bad_secret_ref"}
#: The two tolerated spellings, as the origin's validator words its refusal of them.
TOLERATED_ERRORS = {
    "Additional properties are not allowed ('$comment', '$schema' were unexpected)",
    "Additional properties are not allowed ('filter_column' was unexpected)",
}


def as_origin_writes(data: Any) -> Any:
    """``data`` with floe's two tolerated spellings undone (what the origin's schema expects)."""
    if not isinstance(data, dict):
        return data
    result = copy.deepcopy(data)
    result.pop("$schema", None)
    result.pop("$comment", None)
    security = (result.get("consumption") or {}).get("security")
    if (
        isinstance(security, dict)
        and "filter_column" in security
        and "tenant_column" not in security
    ):
        security["tenant_column"] = security.pop("filter_column")
    return result


_SECRET_FIELDS = {"connection_secret_ref", "api_secret_ref", "credential_secret_ref"}


def _dotted_secret_name(error: ValidationError) -> bool:
    """Whether ``error`` is only the origin's refusal of a dotted Secret name (documented).

    Under ``anyOf`` (a field that may also be null) the refusal is nested: it is explained when
    some branch fails only for such names.
    """
    if error.validator == "anyOf" and error.context:
        branches: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        return any(all(_dotted_secret_name(sub) for sub in subs) for subs in branches.values())
    return bool(
        error.absolute_path
        and error.absolute_path[-1] in _SECRET_FIELDS
        and isinstance(error.instance, str)
        and "." in error.instance
    )


def origin_errors(data: Any) -> list[str]:
    """The origin's refusals of ``data``, less those of a dotted Secret name (documented)."""
    return [error.message for error in ORIGIN.iter_errors(data) if not _dotted_secret_name(error)]


def test_the_origin_schema_is_the_origins() -> None:
    Draft202012Validator.check_schema(ORIGIN_SCHEMA)
    assert ORIGIN_SCHEMA["title"] == "CompiledArtifacts"
    assert "date-time" in ORIGIN.format_checker.checkers


@pytest.mark.requirement("FR-001")
@pytest.mark.parametrize("path", GOLDEN_PATHS, ids=lambda path: path.stem)
def test_golden_artifacts_differ_from_the_origin_schema_only_by_the_tolerated_spellings(
    path: Path,
) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert model_accepts(data)
    assert set(origin_errors(data)) <= TOLERATED_ERRORS
    assert origin_errors(as_origin_writes(data)) == []


@pytest.mark.requirement("FR-001")
@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(data=CONTRACTS)
def test_every_contract_floe_accepts_the_origin_accepts(data: dict[str, Any]) -> None:
    accepted = model_accepts(data)
    event(f"floe {'accepts' if accepted else 'refuses'}")
    if accepted:
        assert origin_errors(as_origin_writes(data)) == []


@pytest.mark.requirement("FR-001")
def test_floe_refuses_what_the_origin_refuses_and_is_stricter_only_where_documented() -> None:
    outcomes: Counter[str] = Counter()

    @settings(max_examples=400, deadline=None, derandomize=True, database=None)
    @given(mutation=mutations())
    def check(mutation: Mutation) -> None:
        ours = model_accepts(mutation.data)
        theirs = not origin_errors(as_origin_writes(mutation.data))
        outcome = {
            (True, True): "both accept",
            (False, False): "both refuse",
            (False, True): "floe stricter",
            (True, False): "origin stricter",
        }[(ours, theirs)]
        outcomes[outcome] += 1
        event(outcome)
        assert outcome != "origin stricter", (mutation.kind, mutation.location)
        if outcome == "floe stricter":
            assert mutation.kind in STRICTER, (mutation.kind, mutation.location)

    check()
    # Each branch the oracle allows was taken often enough for the agreement to mean something.
    # (Fixed examples, but their draw depends on the hypothesis release: floors, not shares.)
    assert outcomes["both accept"] >= 5, outcomes
    assert outcomes["both refuse"] >= 50, outcomes
    assert outcomes["floe stricter"] >= 5, outcomes
