"""The contract: golden files load, defaults and aliases match the origin, errors are worded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from floe_scaffold.contract import (
    CompiledArtifacts,
    contract_json_schema,
    contract_json_schema_text,
    load_artifacts,
    parse_artifacts,
)
from floe_scaffold.errors import ContractError, InputFileError
from tests.helpers import GOLDEN_PATHS, ROOT, build_contract

SCHEMA_FILE = ROOT / "schemas" / "compiled-artifacts.v1.schema.json"


def _schema_errors(data: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(
        contract_json_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    return [error.message for error in validator.iter_errors(data)]


def _issues(data: Any) -> list[str]:
    with pytest.raises(ContractError) as caught:
        parse_artifacts(json.dumps(data))
    return [str(issue) for issue in caught.value.issues]


def test_every_golden_artifact_is_present() -> None:
    assert {path.stem for path in GOLDEN_PATHS} == {
        "minimal",
        "full",
        "production",
        "docker_integration",
    }


@pytest.mark.requirement("FR-001")
@pytest.mark.parametrize("path", GOLDEN_PATHS, ids=lambda p: p.stem)
def test_golden_artifacts_load_and_match_the_exported_schema(path: Path) -> None:
    artifacts = load_artifacts(path)
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert artifacts.compute.target == raw["compute"]["target"]
    assert artifacts.consumption.security.filter_column == "organization_id"
    assert _schema_errors(raw) == []


def test_defaults_follow_the_origin() -> None:
    artifacts = CompiledArtifacts.model_validate(build_contract())
    assert artifacts.version == "1.0.0"
    assert artifacts.dbt_profiles_path == ".floe/profiles"
    assert artifacts.consumption.port == 4000
    assert artifacts.consumption.security.filter_column == "tenant_id"
    assert artifacts.consumption.pre_aggregations.refresh_schedule == "*/30 * * * *"
    assert artifacts.governance.classification_source == "dbt_meta"
    observability = artifacts.observability
    assert (observability.traces, observability.metrics, observability.lineage) == (
        True,
        True,
        True,
    )
    assert artifacts.catalog is None
    assert artifacts.column_classifications is None


def test_models_are_frozen() -> None:
    artifacts = CompiledArtifacts.model_validate(build_contract())
    with pytest.raises(ValidationError):
        artifacts.version = "1.0.1"  # type: ignore[misc]


def test_tenant_column_is_accepted_as_the_former_name_of_filter_column() -> None:
    data = build_contract(consumption={"security": {"tenant_column": "org"}})
    artifacts = CompiledArtifacts.model_validate(data)
    assert artifacts.consumption.security.filter_column == "org"
    assert _schema_errors(data) == []
    dumped = artifacts.model_dump(mode="json")["consumption"]["security"]
    assert dumped == {"row_level": True, "filter_column": "org"}


def test_both_names_of_the_filter_column_are_refused() -> None:
    data = build_contract(
        consumption={"security": {"tenant_column": "org", "filter_column": "org"}}
    )
    assert _issues(data) == [
        "consumption.security: give either filter_column or its former name tenant_column, not both"
    ]
    assert _schema_errors(data) != []


def test_editor_annotations_are_dropped() -> None:
    artifacts = parse_artifacts(
        json.dumps({"$schema": "x.json", "$comment": "hi", **build_contract()})
    )
    assert "$schema" not in artifacts.model_dump()
    assert _issues({"$schema": 3, **build_contract()}) == [
        "$schema must be a string (it is an annotation and is ignored)"
    ]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"compute": {"target": "oracle"}},
            "compute.target: unsupported compute target 'oracle'; supported targets: duckdb, "
            "postgres, snowflake, bigquery, redshift, databricks, spark",
        ),
        (
            {"compute": {"colour": "blue"}},
            "compute.colour: unknown field; CompiledArtifacts v1 has no such field (remove it, "
            "or check its spelling against `floe schema`)",
        ),
        ({"transforms": [{"type": "dbt"}]}, "transforms[0].path: required field is missing"),
        (
            {"dbt_profiles_path": "../outside"},
            "dbt_profiles_path: '../outside' must be a relative path that stays inside the "
            "project (no leading '/', no drive letter, no '..' segment, no control character), "
            "e.g. '.floe/profiles'",
        ),
        (
            {"observability": {"traces": "yes"}},
            "observability.traces: input should be a valid boolean",
        ),
    ],
)
def test_errors_name_the_field_and_the_fix(overrides: dict[str, Any], expected: str) -> None:
    data = build_contract(**overrides)
    assert expected in _issues(data)
    assert _schema_errors(data) != []


@pytest.mark.parametrize("path", ["/etc/profiles", "a/../../b", "..", "C:\\profiles", "a\\..\\b"])
def test_paths_that_escape_the_project_are_refused(path: str) -> None:
    data = build_contract(dbt_profiles_path=path)
    assert any(issue.startswith("dbt_profiles_path:") for issue in _issues(data))
    assert _schema_errors(data) != []


@pytest.mark.parametrize("path", [".floe/profiles", "profiles", "a/..b/c", "./x", "..hidden"])
def test_relative_paths_inside_the_project_are_accepted(path: str) -> None:
    data = build_contract(dbt_profiles_path=path)
    assert CompiledArtifacts.model_validate(data).dbt_profiles_path == path
    assert _schema_errors(data) == []


def test_a_value_reference_as_secret_ref_gets_a_suggested_fix() -> None:
    data = build_contract(compute={"target": "snowflake", "connection_secret_ref": "env:SF_PASS"})
    (issue,) = _issues(data)
    assert issue.startswith("compute.connection_secret_ref: 'env:SF_PASS' is a reference")
    assert "write e.g. 'sf-pass'" in issue
    assert _schema_errors(data) != []


def test_a_secret_ref_that_is_not_a_kubernetes_name_is_refused() -> None:
    (issue,) = _issues(build_contract(compute={"connection_secret_ref": "has space"}))
    assert "is not a Kubernetes Secret name" in issue


@pytest.mark.parametrize("version", ["2.0.0", "0.9.0", "10.1.0"])
def test_an_unsupported_major_version_names_the_supported_ones(version: str) -> None:
    data = build_contract(version=version)
    (issue,) = _issues(data)
    assert issue.startswith(f"version: contract version {version} is not supported")
    assert "1.x" in issue
    assert "1.0.0" in issue
    assert _schema_errors(data) != []


def test_a_newer_minor_version_is_read() -> None:
    assert CompiledArtifacts.model_validate(build_contract(version="1.3.0")).version == "1.3.0"


@pytest.mark.parametrize("version", ["1.0", "v1.0.0", "01.0.0", 1])
def test_a_malformed_version_is_refused(version: object) -> None:
    data = build_contract(version=version)
    assert any(issue.startswith("version:") for issue in _issues(data))
    assert _schema_errors(data) != []


@pytest.mark.parametrize(
    "compiled_at", ["2024-01-15T10:30:00", 1705314600, "2024-01-15", "yesterday"]
)
def test_compiled_at_must_be_an_rfc3339_time_with_zone(compiled_at: object) -> None:
    data = build_contract(metadata={"compiled_at": compiled_at})
    assert any(issue.startswith("metadata.compiled_at:") for issue in _issues(data))
    assert _schema_errors(data) != []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", "the file is empty"),
        (b"   \n", "the file is empty"),
        (b"{", "not valid JSON: Expecting property name enclosed in double quotes at line 1"),
        (b"[]", "the top level must be a JSON object, not an array"),
        (b"null", "the top level must be a JSON object, not null"),
        (b'"x"', "the top level must be a JSON object, not a string"),
        (b"12", "the top level must be a JSON object, not a number"),
        (b"\xff\xfe{}", "not UTF-8 text (byte 0)"),
        (b'{"version": "1.0.0", "version": "1.0.0"}', "the key 'version' appears twice"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON: nested too deeply"),
    ],
)
def test_unreadable_json_is_reported_plainly(raw: bytes, expected: str) -> None:
    with pytest.raises(ContractError) as caught:
        parse_artifacts(raw, source="a.json")
    assert caught.value.exit_code == 1
    assert expected in "\n".join(caught.value.lines())
    assert caught.value.lines()[0] == "invalid CompiledArtifacts in a.json: 1 error"


def test_a_byte_order_mark_is_tolerated() -> None:
    raw = b"\xef\xbb\xbf" + json.dumps(build_contract()).encode()
    assert parse_artifacts(raw).compute.target == "duckdb"


def test_missing_and_directory_paths_are_file_errors(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such file") as missing:
        load_artifacts(tmp_path / "absent.json")
    assert missing.value.exit_code == 2
    with pytest.raises(InputFileError, match="is a directory"):
        load_artifacts(tmp_path)


def test_the_committed_schema_file_has_not_drifted() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == contract_json_schema_text(), (
        "regenerate it: floe schema --out schemas/compiled-artifacts.v1.schema.json"
    )


def test_the_exported_schema_is_draft_2020_12_and_valid() -> None:
    schema = contract_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "https://floe.dev/schemas/compiled-artifacts.schema.json"
    jsonschema.Draft202012Validator.check_schema(schema)
