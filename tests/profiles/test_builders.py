"""Each warehouse's profile output, exactly, and every rule of reading properties."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from floe_scaffold.contract import CompiledArtifacts
from floe_scaffold.errors import ProfileError
from floe_scaffold.profiles import (
    WAREHOUSES,
    Environment,
    build_profile,
    env_var_prefix,
    render_profiles_yaml,
    write_profiles,
)
from tests.helpers import TARGETS, build_contract


def _output(target: str, properties: dict[str, Any], ref: str | None = None) -> dict[str, Any]:
    compute = {"target": target, "properties": properties, "connection_secret_ref": ref}
    artifacts = CompiledArtifacts.model_validate(build_contract(compute=compute))
    return build_profile([Environment("dev", artifacts)]).outputs["dev"]


def _problems(target: str, properties: dict[str, Any]) -> list[str]:
    with pytest.raises(ProfileError) as caught:
        _output(target, properties)
    return [str(issue) for issue in caught.value.issues]


def env(name: str) -> str:
    """dbt's own spelling of an environment read (docs.getdbt.com, env_var), written out here."""
    return "{{ env_var('" + name + "') }}"


def test_the_registry_covers_exactly_the_contract_targets() -> None:
    assert set(WAREHOUSES) == set(TARGETS)
    assert all(warehouse.target == target for target, warehouse in WAREHOUSES.items())
    assert all(w.adapter_package == f"dbt-{w.target}" for w in WAREHOUSES.values())


EXPECTED: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("duckdb", {}, {"type": "duckdb", "path": ":memory:", "threads": 4}),
    (
        "duckdb",
        {"path": "w.duckdb", "schema": "s", "extensions": ["httpfs"], "settings": {"a": 1}},
        {
            "type": "duckdb",
            "path": "w.duckdb",
            "schema": "s",
            "extensions": ["httpfs"],
            "threads": 4,
            "settings": {"a": 1},
        },
    ),
    (
        "postgres",
        {"host": "h", "database": "d", "schema": "s", "sslmode": "require"},
        {
            "type": "postgres",
            "host": "h",
            "port": 5432,
            "user": env("R_USER"),
            "password": env("R_PASSWORD"),
            "dbname": "d",
            "schema": "s",
            "sslmode": "require",
            "threads": 4,
        },
    ),
    (
        "postgres",
        {},
        {
            "type": "postgres",
            "host": env("R_HOST"),
            "port": 5432,
            "user": env("R_USER"),
            "password": env("R_PASSWORD"),
            "dbname": env("R_DBNAME"),
            "schema": env("R_SCHEMA"),
            "threads": 4,
        },
    ),
    (
        "snowflake",
        {"account": "a", "database": "d", "warehouse": "w", "schema": "s", "role": "r"},
        {
            "type": "snowflake",
            "account": "a",
            "user": env("R_USER"),
            "password": env("R_PASSWORD"),
            "role": "r",
            "database": "d",
            "warehouse": "w",
            "schema": "s",
            "threads": 4,
        },
    ),
    (
        "snowflake",
        {"authenticator": "snowflake_jwt", "account": "a"},
        {
            "type": "snowflake",
            "account": "a",
            "user": env("R_USER"),
            "private_key_path": env("R_PRIVATE_KEY_PATH"),
            "private_key_passphrase": "{{ env_var('R_PRIVATE_KEY_PASSPHRASE', '') }}",
            "database": env("R_DATABASE"),
            "warehouse": env("R_WAREHOUSE"),
            "schema": env("R_SCHEMA"),
            "threads": 4,
        },
    ),
    (
        "snowflake",
        {"authenticator": "oauth", "account": "a", "query_tag": "q"},
        {
            "type": "snowflake",
            "account": "a",
            "user": env("R_USER"),
            "token": env("R_TOKEN"),
            "authenticator": "oauth",
            "database": env("R_DATABASE"),
            "warehouse": env("R_WAREHOUSE"),
            "schema": env("R_SCHEMA"),
            "query_tag": "q",
            "threads": 4,
        },
    ),
    (
        "bigquery",
        {"project": "p", "schema": "ds", "location": "EU", "maximum_bytes_billed": 10**9},
        {
            "type": "bigquery",
            "method": "oauth",
            "project": "p",
            "dataset": "ds",
            "location": "EU",
            "maximum_bytes_billed": 10**9,
            "threads": 4,
        },
    ),
    (
        "bigquery",
        {"method": "service-account", "project": "p", "dataset": "ds"},
        {
            "type": "bigquery",
            "method": "service-account",
            "project": "p",
            "dataset": "ds",
            "keyfile": env("R_KEYFILE"),
            "threads": 4,
        },
    ),
    (
        "redshift",
        {"host": "h", "port": 5440, "database": "d", "schema": "s", "ra3_node": True},
        {
            "type": "redshift",
            "host": "h",
            "port": 5440,
            "user": env("R_USER"),
            "password": env("R_PASSWORD"),
            "dbname": "d",
            "schema": "s",
            "ra3_node": True,
            "threads": 4,
        },
    ),
    (
        "redshift",
        {"method": "iam", "host": "h", "dbname": "d", "schema": "s", "cluster_id": "c"},
        {
            "type": "redshift",
            "method": "iam",
            "host": "h",
            "port": 5439,
            "user": env("R_USER"),
            "cluster_id": "c",
            "dbname": "d",
            "schema": "s",
            "threads": 4,
        },
    ),
    (
        "databricks",
        {"host": "h", "http_path": "/p", "catalog": "c", "schema": "s"},
        {
            "type": "databricks",
            "host": "h",
            "http_path": "/p",
            "token": env("R_TOKEN"),
            "catalog": "c",
            "schema": "s",
            "threads": 4,
        },
    ),
    (
        "databricks",
        {"auth_type": "oauth", "host": "h", "http_path": "/p", "schema": "s"},
        {
            "type": "databricks",
            "host": "h",
            "http_path": "/p",
            "auth_type": "oauth",
            "client_id": env("R_CLIENT_ID"),
            "client_secret": env("R_CLIENT_SECRET"),
            "schema": "s",
            "threads": 4,
        },
    ),
    (
        "spark",
        {"host": "h", "schema": "s"},
        {
            "type": "spark",
            "method": "thrift",
            "host": "h",
            "port": 10000,
            "schema": "s",
            "threads": 4,
        },
    ),
    (
        "spark",
        {"host": "h", "schema": "s", "auth": "LDAP"},
        {
            "type": "spark",
            "method": "thrift",
            "host": "h",
            "port": 10000,
            "schema": "s",
            "auth": "LDAP",
            "user": env("R_USER"),
            "password": env("R_PASSWORD"),
            "threads": 4,
        },
    ),
    (
        "spark",
        {"method": "http", "host": "h", "schema": "s", "cluster": "c"},
        {
            "type": "spark",
            "method": "http",
            "host": "h",
            "port": 443,
            "schema": "s",
            "cluster": "c",
            "token": env("R_TOKEN"),
            "threads": 4,
        },
    ),
    (
        "spark",
        {"method": "odbc", "host": "h", "schema": "s", "driver": "/d.so"},
        {
            "type": "spark",
            "method": "odbc",
            "host": "h",
            "port": 443,
            "schema": "s",
            "driver": "/d.so",
            "cluster": env("R_CLUSTER"),
            "token": env("R_TOKEN"),
            "threads": 4,
        },
    ),
    (
        "spark",
        {"method": "odbc", "host": "h", "schema": "s", "driver": "/d.so", "endpoint": "e"},
        {
            "type": "spark",
            "method": "odbc",
            "host": "h",
            "port": 443,
            "schema": "s",
            "driver": "/d.so",
            "endpoint": "e",
            "token": env("R_TOKEN"),
            "threads": 4,
        },
    ),
    (
        "spark",
        {"method": "session", "schema": "s"},
        {"type": "spark", "method": "session", "host": "localhost", "schema": "s", "threads": 4},
    ),
]


@pytest.mark.requirement("FR-002")
@pytest.mark.requirement("FR-003")
@pytest.mark.parametrize(("target", "properties", "expected"), EXPECTED)
def test_each_target_builds_its_documented_output(
    target: str, properties: dict[str, Any], expected: dict[str, Any]
) -> None:
    output = _output(target, properties, ref="r")
    assert output == expected
    assert list(output) == list(expected), "keys keep a stable, readable order"


@pytest.mark.requirement("FR-004")
def test_properties_override_defaults() -> None:
    output = _output("postgres", {"host": "h", "port": 6543, "threads": 16, "keepalives_idle": 5})
    assert (output["port"], output["threads"], output["keepalives_idle"]) == (6543, 16, 5)


@pytest.mark.parametrize(
    ("target", "properties", "expected"),
    [
        ("postgres", {"port": "5432"}, "compute.properties.port: must be a whole number"),
        ("postgres", {"port": 0}, "compute.properties.port: must be from 1 to 65535, not 0"),
        ("postgres", {"threads": True}, "compute.properties.threads: must be a whole number"),
        ("duckdb", {"threads": 65}, "compute.properties.threads: must be from 1 to 64, not 65"),
        ("postgres", {"host": ""}, "compute.properties.host: must not be empty"),
        ("postgres", {"host": ["a"]}, "compute.properties.host: must be a string, not list"),
        ("postgres", {"host": True}, "compute.properties.host: must be a string, not bool"),
        (
            "postgres",
            {"database": "a", "dbname": "b"},
            "compute.properties.database: give either 'dbname' or 'database', not both",
        ),
        ("redshift", {"ra3_node": "yes"}, "compute.properties.ra3_node: must be true or false"),
        ("postgres", {"sslmode": "on"}, "compute.properties.sslmode: 'on' is not supported"),
        ("bigquery", {"method": "oauth-secrets"}, "compute.properties.method: 'oauth-secrets'"),
        ("duckdb", {"extensions": "httpfs"}, "compute.properties.extensions: must be a list"),
        ("duckdb", {"extensions": ["{{ x }}"]}, "compute.properties.extensions[0]: contains"),
        ("duckdb", {"type": "postgres"}, "compute.properties.type: floe-scaffold sets this"),
        ("duckdb", {"bad key": 1}, "compute.properties.bad key: property names are letters"),
        ("duckdb", {"api_key": "k"}, "compute.properties.api_key: credentials never go"),
        ("duckdb", {"settings": {"s3_secret_access_key": "k"}}, "settings.s3_secret_access_key"),
        ("duckdb", {"settings": {"a": ["{% x %}"]}}, "compute.properties.settings.a[0]: contains"),
        ("postgres", {"password": "p"}, "export FLOE_POSTGRES_PASSWORD instead"),
    ],
)
def test_bad_properties_are_reported_with_their_path(
    target: str, properties: dict[str, Any], expected: str
) -> None:
    assert any(expected in problem for problem in _problems(target, properties))


def test_a_redshift_boolean_is_read_when_used() -> None:
    from floe_scaffold.profiles._naming import EnvVarNaming
    from floe_scaffold.profiles._properties import PropertyReader

    reader = PropertyReader({"a": True, "b": "x"}, EnvVarNaming("P"), path="p")
    assert reader.optional_boolean("a") is True
    assert reader.optional_boolean("b") is None
    assert reader.optional_boolean("c") is None
    assert [str(issue) for issue in reader.issues] == ["p.b: must be true or false, not 'x'"]


def test_all_problems_are_reported_at_once() -> None:
    problems = _problems("postgres", {"port": "x", "threads": 0, "password": "p"})
    assert len(problems) == 3


@pytest.mark.parametrize(
    ("target", "ref", "environment", "prefix"),
    [
        ("snowflake", "snowflake-prod-creds", None, "SNOWFLAKE_PROD_CREDS"),
        ("snowflake", None, None, "FLOE_SNOWFLAKE"),
        ("postgres", "9lives", None, "FLOE_9LIVES"),
        ("postgres", "pg.creds", "qa-1", "PG_CREDS_QA_1"),
        ("postgres", None, "prod", "FLOE_POSTGRES_PROD"),
    ],
)
def test_env_var_prefix_rule(
    target: str, ref: str | None, environment: str | None, prefix: str
) -> None:
    assert env_var_prefix(target, ref, environment) == prefix


def test_profile_and_environment_names_are_checked() -> None:
    artifacts = CompiledArtifacts.model_validate(build_contract())
    with pytest.raises(ProfileError) as caught:
        build_profile([Environment("dev", artifacts)], profile_name="my profile")
    assert "profile: 'my profile' is not a valid profile name" in str(caught.value.lines())
    with pytest.raises(ProfileError, match="1 error"):
        build_profile([])


def test_the_first_transform_target_names_the_default_environment() -> None:
    from floe_scaffold.profiles import default_environment_name

    data = build_contract(
        transforms=[{"type": "dbt", "path": "a"}, {"type": "dbt", "path": "b", "target": "prod"}]
    )
    assert default_environment_name(CompiledArtifacts.model_validate(data)) == "prod"


def test_yaml_round_trips_and_keeps_the_header() -> None:
    artifacts = CompiledArtifacts.model_validate(
        build_contract(compute={"target": "postgres", "properties": {"host": "h: {x: 1}\n- y"}})
    )
    profile = build_profile([Environment("dev", artifacts)])
    text = render_profiles_yaml(profile, regenerate="floe profiles c.json", version="9.9")
    assert text.splitlines()[:3] == [
        "# Generated by floe-scaffold 9.9. Do not edit: changes are overwritten.",
        "# Regenerate with: floe profiles c.json",
        "# needs FLOE_POSTGRES_USER (dev: user, secret)",
    ]
    assert "# needs FLOE_POSTGRES_DBNAME (dev: dbname, setting)" in text
    assert yaml.safe_load(text) == profile.as_dict()


def test_write_is_atomic_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    (tmp_path / "profiles.yml").mkdir()
    (tmp_path / "profiles.yml" / "keep").write_text("x", encoding="utf-8")
    from floe_scaffold.errors import SystemFailureError

    with pytest.raises(SystemFailureError, match="cannot write"):
        write_profiles("a: 1\n", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["profiles.yml"]
    written = write_profiles("a: 1\n", tmp_path / "new" / "dir")
    assert written.read_text(encoding="utf-8") == "a: 1\n"
    assert sorted(p.name for p in written.parent.iterdir()) == ["profiles.yml"]
