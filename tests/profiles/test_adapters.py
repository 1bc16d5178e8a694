"""Conformance of every registered target: the origin's profile schema, and the real dbt adapter.

Each case generates ``profiles.yml`` the way the CLI does (build, render, atomic write), reads it
back as YAML, validates it against the origin's ``dbt-profile.schema.json`` and then has the real
adapter load it with ``dbt parse`` in a subprocess: dbt renders the ``env_var()`` calls and the
adapter validates the credentials block (without connecting). Negative cases prove both checks
can fail.
"""

from __future__ import annotations

import importlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from floe_scaffold.contract import parse_artifacts
from floe_scaffold.profiles import (
    WAREHOUSES,
    BuiltProfile,
    Environment,
    build_profile,
    render_profiles_yaml,
    write_profiles,
)
from tests.helpers import CONTRACTS_DIR, TARGET_PROPERTIES, contract_for

if TYPE_CHECKING:
    from tests.profiles.conftest import DbtRunner

ENV = "ci"
PROFILE_SCHEMA: dict[str, Any] = json.loads(
    (CONTRACTS_DIR / "dbt-profile.schema.json").read_text(encoding="utf-8")
)
ODBC_SKIP_REASON = (
    "spark method odbc: dbt-spark imports pyodbc to accept the profile, and pyodbc (the "
    "dbt-spark[ODBC] extra, which needs the system unixODBC library) is not installed here"
)


@dataclass(frozen=True)
class Variant:
    """One target with one authentication/connection method."""

    target: str
    method: str
    #: Merged over ``TARGET_PROPERTIES[target]``; a ``None`` value removes the property.
    properties: Mapping[str, Any]
    #: Profile keys whose value must come from the environment.
    secrets: frozenset[str]
    #: Keys the output must hold with exactly these values.
    expected: Mapping[str, object] = field(default_factory=dict)
    #: Keys the output must not hold (credentials of the other methods).
    absent: frozenset[str] = frozenset()
    #: Where dbt places a model with this profile: (database, schema) in the manifest.
    placement: tuple[str | None, str] = field(kw_only=True)
    #: A Python module the adapter imports for this method.
    needs: str | None = None

    @property
    def id(self) -> str:
        return f"{self.target}-{self.method}"


def _secrets(*keys: str) -> frozenset[str]:
    return frozenset(keys)


VARIANTS: tuple[Variant, ...] = (
    Variant(
        "duckdb",
        "file",
        {},
        _secrets(),
        expected={"type": "duckdb", "path": "warehouse.duckdb", "threads": 2},
        placement=("warehouse", "main"),
    ),
    Variant(
        "postgres",
        "password",
        {},
        _secrets("user", "password"),
        expected={"host": "db.internal", "port": 5433, "dbname": "analytics", "schema": "marts"},
        placement=("analytics", "marts"),
    ),
    Variant(
        "snowflake",
        "snowflake",
        {"authenticator": "snowflake"},
        _secrets("user", "password"),
        expected={"account": "xy12345.us-east-1", "role": "TRANSFORMER"},
        absent=frozenset({"authenticator", "token", "private_key_path"}),
        placement=("ANALYTICS", "PUBLIC"),
    ),
    Variant(
        "snowflake",
        "snowflake_jwt",
        {"authenticator": "snowflake_jwt"},
        _secrets("user", "private_key_path", "private_key_passphrase"),
        absent=frozenset({"authenticator", "password", "token"}),
        placement=("ANALYTICS", "PUBLIC"),
    ),
    Variant(
        "snowflake",
        "oauth",
        {"authenticator": "oauth"},
        _secrets("user", "token"),
        expected={"authenticator": "oauth"},
        absent=frozenset({"password", "private_key_path"}),
        placement=("ANALYTICS", "PUBLIC"),
    ),
    Variant(
        "snowflake",
        "externalbrowser",
        {"authenticator": "externalbrowser"},
        _secrets("user"),
        expected={"authenticator": "externalbrowser"},
        absent=frozenset({"password", "token", "private_key_path"}),
        placement=("ANALYTICS", "PUBLIC"),
    ),
    Variant(
        "bigquery",
        "oauth",
        {"method": "oauth"},
        _secrets(),
        expected={"method": "oauth", "project": "my-gcp-project", "dataset": "analytics"},
        absent=frozenset({"keyfile"}),
        placement=("my-gcp-project", "analytics"),
    ),
    Variant(
        "bigquery",
        "service-account",
        {"method": "service-account"},
        _secrets("keyfile"),
        expected={"method": "service-account", "location": "EU"},
        placement=("my-gcp-project", "analytics"),
    ),
    Variant(
        "redshift",
        "database",
        {"method": "database"},
        _secrets("user", "password"),
        expected={"port": 5439, "dbname": "analytics"},
        absent=frozenset({"method", "cluster_id"}),
        placement=("analytics", "public"),
    ),
    Variant(
        "redshift",
        "iam",
        {"method": "iam", "cluster_id": "analytics-cluster"},
        _secrets("user"),
        expected={"method": "iam", "cluster_id": "analytics-cluster"},
        absent=frozenset({"password"}),
        placement=("analytics", "public"),
    ),
    Variant(
        "databricks",
        "token",
        {"auth_type": "token"},
        _secrets("token"),
        expected={"http_path": "/sql/1.0/warehouses/abc", "catalog": "main"},
        absent=frozenset({"auth_type", "client_id", "client_secret"}),
        placement=("main", "analytics"),
    ),
    Variant(
        "databricks",
        "oauth",
        {"auth_type": "oauth"},
        _secrets("client_id", "client_secret"),
        expected={"auth_type": "oauth"},
        absent=frozenset({"token"}),
        placement=("main", "analytics"),
    ),
    Variant(
        "spark",
        "thrift",
        {"method": "thrift"},
        _secrets(),
        expected={"method": "thrift", "host": "spark.internal", "port": 10000},
        absent=frozenset({"user", "password", "token"}),
        placement=(None, "analytics"),
    ),
    Variant(
        "spark",
        "thrift-ldap",
        {"method": "thrift", "auth": "LDAP"},
        _secrets("user", "password"),
        expected={"method": "thrift", "auth": "LDAP"},
        placement=(None, "analytics"),
    ),
    Variant(
        "spark",
        "http",
        {"method": "http", "cluster": "0123-456789-abcdefgh"},
        _secrets("token"),
        expected={"method": "http", "port": 443, "cluster": "0123-456789-abcdefgh"},
        placement=(None, "analytics"),
    ),
    Variant(
        "spark",
        "odbc",
        {
            "method": "odbc",
            "driver": "/opt/simba/spark/lib/64/libsparkodbc_sb64.so",
            "cluster": "0123-456789-abcdefgh",
        },
        _secrets("token"),
        expected={"method": "odbc", "port": 443},
        placement=(None, "analytics"),
        needs="pyodbc",
    ),
    Variant(
        "spark",
        "session",
        {"method": "session", "host": None},
        _secrets(),
        expected={"method": "session", "host": "localhost"},
        absent=frozenset({"port", "token"}),
        placement=(None, "analytics"),
    ),
)

#: Per target, a change to the generated output that the real adapter must refuse, and what
#: dbt's error then says.
BROKEN: dict[str, tuple[str, object, str]] = {
    # key, new value (None removes the key), expected fragment of dbt's output
    "duckdb": ("threads", "many", "'many' is not of type 'integer'"),
    "postgres": ("host", None, "'host' is a required property"),
    "snowflake": ("database", None, "'database' is a required property"),
    "bigquery": ("method", None, "Must specify authentication method"),
    "redshift": ("host", None, "'host' is a required property"),
    "databricks": ("schema", None, "at path ['schema']: None is not of type 'string'"),
    "spark": ("host", None, "Must specify `host` in profile"),
}

#: Per target, a property floe-scaffold does not know (passed through, FR-004) that the adapter
#: reads and types, with a valid value.
PASSTHROUGH: dict[str, tuple[str, object]] = {
    "duckdb": ("external_root", "exports"),
    "postgres": ("connect_timeout", 7),
    "snowflake": ("client_session_keep_alive", True),
    "bigquery": ("job_retries", 3),
    "redshift": ("ra3_node", True),
    "databricks": ("connect_retries", 2),
    "spark": ("connect_retries", 2),
}


def _first_variant(target: str) -> Variant:
    return next(variant for variant in VARIANTS if variant.target == target)


def _properties(target: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    properties = dict(TARGET_PROPERTIES[target])
    for key, value in overrides.items():
        if value is None:
            properties.pop(key, None)
        else:
            properties[key] = value
    return properties


def _generate(target: str, properties: Mapping[str, Any], directory: Path) -> BuiltProfile:
    """Build and write ``profiles.yml`` into ``directory`` as ``floe profiles`` does."""
    contract = contract_for(target, properties=dict(properties))
    artifacts = parse_artifacts(json.dumps(contract))
    profile = build_profile([Environment(ENV, artifacts)])
    text = render_profiles_yaml(profile, regenerate="floe profiles test", version="0.0.0-test")
    written = write_profiles(text, directory)
    assert written == directory / "profiles.yml"
    return profile


def _load(directory: Path) -> dict[str, Any]:
    loaded = yaml.safe_load((directory / "profiles.yml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _output(document: Mapping[str, Any]) -> dict[str, Any]:
    output = document["floe"]["outputs"][ENV]
    assert isinstance(output, dict)
    return output


def _schema_errors(document: object) -> list[str]:
    validator = Draft202012Validator(
        PROFILE_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    return [
        f"{'/'.join(str(part) for part in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def _dummy_environment(profile: BuiltProfile, *, required_only: bool = False) -> dict[str, str]:
    """A placeholder value for every variable the profile reads (never the real secret)."""
    return {
        var.name: f"dummy-{var.key}"
        for environment, var in profile.env_vars
        if environment == ENV and (var.required or not required_only)
    }


def _project(root: Path) -> Path:
    """The smallest dbt project that uses the ``floe`` profile: one model, ``select 1``."""
    project = root / "project"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(
        'name: conformance\nversion: "1.0.0"\nconfig-version: 2\nprofile: floe\n',
        encoding="utf-8",
    )
    (project / "models" / "one.sql").write_text("select 1 as id\n", encoding="utf-8")
    return project


def _parse(
    dbt: DbtRunner,
    root: Path,
    profiles_dir: Path,
    env: Mapping[str, str],
    *,
    unset: tuple[str, ...] = (),
) -> tuple[int, str, Path]:
    project = _project(root)
    result = dbt(
        ["parse", "--profiles-dir", profiles_dir, "--project-dir", project, "--target", ENV],
        env=env,
        cwd=root,
        unset=unset,
        timeout=180,
    )
    return result.returncode, result.stdout, project


def _require_module(variant: Variant) -> None:
    if variant.needs is None:
        return
    try:
        importlib.import_module(variant.needs)
    except ImportError:
        if os.environ.get("CI"):
            # scripts/bootstrap installs unixODBC and pyodbc: in CI this is a broken setup.
            pytest.fail(f"{ODBC_SKIP_REASON} (CI runs every test: see scripts/bootstrap)")
        pytest.skip(ODBC_SKIP_REASON)


def _env_var_pattern(name: str, *, optional: bool) -> re.Pattern[str]:
    default = ", ''" if optional else ""
    return re.compile(rf"^\{{\{{ env_var\('{re.escape(name)}'{default}\) \}}\}}$")


# -- the case table covers the registry ---------------------------------------------------------


@pytest.mark.requirement("FR-002")
def test_cases_cover_every_registered_target() -> None:
    assert {variant.target for variant in VARIANTS} == set(WAREHOUSES)
    assert set(BROKEN) == set(WAREHOUSES)
    assert set(PASSTHROUGH) == set(WAREHOUSES)
    assert len({variant.id for variant in VARIANTS}) == len(VARIANTS)


@pytest.mark.requirement("FR-002")
def test_origin_schema_knows_every_registered_target() -> None:
    Draft202012Validator.check_schema(PROFILE_SCHEMA)
    known = PROFILE_SCHEMA["$defs"]["Output"]["properties"]["type"]["enum"]
    assert set(WAREHOUSES) <= set(known)


# -- the origin's profile schema ----------------------------------------------------------------


@pytest.mark.requirement("FR-001")
@pytest.mark.requirement("FR-002")
@pytest.mark.requirement("FR-003")
@pytest.mark.requirement("SC-002")
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda variant: variant.id)
def test_profile_matches_origin_schema(variant: Variant, tmp_path: Path) -> None:
    # Every variant, pyodbc or not: the schema does not depend on the adapter's extras. No
    # variant falls outside the origin schema: its enums (bigquery method, spark method) list
    # exactly the methods floe-scaffold offers, and every variant writes the keys it requires
    # (snowflake and redshift require `user`, which every method here reads from the env).
    profile = _generate(variant.target, _properties(variant.target, variant.properties), tmp_path)
    document = _load(tmp_path)

    assert _schema_errors(document) == []
    assert document["floe"]["target"] == ENV
    output = _output(document)
    assert output["type"] == variant.target
    for key, value in variant.expected.items():
        assert output.get(key) == value, key
    assert not variant.absent & output.keys()

    used = {var.key: var for environment, var in profile.env_vars if environment == ENV}
    assert set(used) == variant.secrets
    for key, var in used.items():
        assert var.secret
        assert _env_var_pattern(var.name, optional=not var.required).match(output[key]), key
    # Only credential keys are templated; every other value is written as given.
    templated = {key for key, value in output.items() if "env_var" in str(value)}
    assert templated == variant.secrets


def _schema_required_keys() -> list[tuple[str, str]]:
    """(target, key) for every key the origin schema requires of a target's output."""
    definitions = PROFILE_SCHEMA["$defs"]
    cases: list[tuple[str, str]] = []
    for branch in definitions["Output"]["allOf"]:
        target = branch["if"]["properties"]["type"]["const"]
        definition = definitions[branch["then"]["$ref"].rsplit("/", 1)[-1]]
        cases.extend((target, key) for key in definition["required"])
    return cases


@pytest.mark.requirement("FR-002")
@pytest.mark.parametrize(("target", "key"), _schema_required_keys())
def test_origin_schema_refuses_output_without_required_key(
    target: str, key: str, tmp_path: Path
) -> None:
    # The schema check above is not vacuous: without a key the schema requires, it fails.
    _generate(target, _properties(target, _first_variant(target).properties), tmp_path)
    document = _load(tmp_path)
    assert key in _output(document)
    del _output(document)[key]
    errors = _schema_errors(document)
    assert any(f"'{key}' is a required property" in error for error in errors), errors


# -- the real dbt adapter ------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.requirement("FR-001")
@pytest.mark.requirement("FR-002")
@pytest.mark.requirement("FR-003")
@pytest.mark.requirement("SC-002")
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda variant: variant.id)
def test_real_adapter_loads_profile(variant: Variant, tmp_path: Path, dbt: DbtRunner) -> None:
    _require_module(variant)
    profiles_dir = tmp_path / "profiles"
    profile = _generate(
        variant.target, _properties(variant.target, variant.properties), profiles_dir
    )

    code, output, project = _parse(dbt, tmp_path, profiles_dir, _dummy_environment(profile))

    assert code == 0, output
    assert f"Registered adapter: {variant.target}=" in output
    manifest = json.loads((project / "target" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["metadata"]["adapter_type"] == variant.target
    node = manifest["nodes"]["model.conformance.one"]
    assert (node["database"], node["schema"]) == variant.placement


@pytest.mark.slow
@pytest.mark.requirement("FR-002")
@pytest.mark.requirement("SC-002")
@pytest.mark.parametrize("target", tuple(WAREHOUSES))
def test_real_adapter_refuses_broken_profile(target: str, tmp_path: Path, dbt: DbtRunner) -> None:
    # Proves that `dbt parse` really validates the credentials block: the same generated
    # profile that loads in test_real_adapter_loads_profile fails once one key is wrong.
    key, value, message = BROKEN[target]
    variant = _first_variant(target)
    profiles_dir = tmp_path / "profiles"
    profile = _generate(target, _properties(target, variant.properties), profiles_dir)
    document = _load(profiles_dir)
    assert key in _output(document)
    if value is None:
        del _output(document)[key]
    else:
        _output(document)[key] = value
    (profiles_dir / "profiles.yml").write_text(yaml.safe_dump(document), encoding="utf-8")

    code, output, _ = _parse(dbt, tmp_path, profiles_dir, _dummy_environment(profile))

    assert code != 0, output
    assert message in output
    assert key in output


@pytest.mark.slow
@pytest.mark.requirement("FR-003")
def test_missing_credential_variable_fails_with_its_name(tmp_path: Path, dbt: DbtRunner) -> None:
    profiles_dir = tmp_path / "profiles"
    profile = _generate("postgres", _properties("postgres", {}), profiles_dir)
    env = _dummy_environment(profile)
    # The name follows the documented rule without a secret ref: FLOE_<TARGET>_<KEY>.
    # (Not the password: when rendering a key named `password` fails, dbt keeps the raw text
    # as the password, so a missing password variable only shows when connecting.)
    del env["FLOE_POSTGRES_USER"]

    code, output, _ = _parse(dbt, tmp_path, profiles_dir, env, unset=("FLOE_POSTGRES_USER",))

    assert code != 0, output
    assert "FLOE_POSTGRES_USER" in output
    assert "Env var required but not provided" in output


@pytest.mark.slow
@pytest.mark.requirement("FR-003")
def test_optional_credential_variable_may_be_unset(tmp_path: Path, dbt: DbtRunner) -> None:
    # A key pair without a passphrase: the passphrase variable defaults to '' in env_var().
    profiles_dir = tmp_path / "profiles"
    variant = next(variant for variant in VARIANTS if variant.id == "snowflake-snowflake_jwt")
    profile = _generate("snowflake", _properties("snowflake", variant.properties), profiles_dir)
    optional = [var.name for _, var in profile.env_vars if not var.required]
    assert optional == ["FLOE_SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"]

    code, output, _ = _parse(
        dbt,
        tmp_path,
        profiles_dir,
        _dummy_environment(profile, required_only=True),
        unset=tuple(optional),
    )

    assert code == 0, output


def _overridden(target: str, directory: Path) -> tuple[BuiltProfile, dict[str, Any]]:
    """The first variant of ``target`` with ``threads: 8`` and its pass-through property."""
    key, value = PASSTHROUGH[target]
    overrides = {**_first_variant(target).properties, "threads": 8, key: value}
    profile = _generate(target, _properties(target, overrides), directory)
    return profile, _load(directory)


@pytest.mark.requirement("FR-004")
@pytest.mark.parametrize("target", tuple(WAREHOUSES))
def test_property_overrides_reach_profile(target: str, tmp_path: Path) -> None:
    key, value = PASSTHROUGH[target]
    _, document = _overridden(target, tmp_path)
    output = _output(document)

    assert output["threads"] == 8
    assert output[key] == value
    assert type(output[key]) is type(value)
    assert _schema_errors(document) == []


@pytest.mark.slow
@pytest.mark.requirement("FR-004")
@pytest.mark.requirement("SC-002")
def test_property_overrides_are_accepted_by_the_adapter(tmp_path: Path, dbt: DbtRunner) -> None:
    # One real parse is enough here: test_real_adapter_loads_profile loads every target, and
    # the test below shows that the adapter really reads a passed-through key.
    profiles_dir = tmp_path / "profiles"
    profile, document = _overridden("snowflake", profiles_dir)
    output = _output(document)
    assert (output["threads"], output["client_session_keep_alive"]) == (8, True)

    code, dbt_output, _ = _parse(dbt, tmp_path, profiles_dir, _dummy_environment(profile))

    assert code == 0, dbt_output


@pytest.mark.slow
@pytest.mark.requirement("FR-004")
def test_passed_through_property_is_read_by_the_adapter(tmp_path: Path, dbt: DbtRunner) -> None:
    # The pass-through key really reaches the adapter: a value of the wrong type, which
    # floe-scaffold passes on unchecked (it does not know the key), is refused by dbt-snowflake.
    profiles_dir = tmp_path / "profiles"
    properties = _properties("snowflake", {"client_session_keep_alive": "sometimes"})
    profile = _generate("snowflake", properties, profiles_dir)
    assert _output(_load(profiles_dir))["client_session_keep_alive"] == "sometimes"

    code, output, _ = _parse(dbt, tmp_path, profiles_dir, _dummy_environment(profile))

    assert code != 0, output
    assert "'sometimes' is not of type 'boolean'" in output
