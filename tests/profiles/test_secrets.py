"""SC-007 / FR-003: secrets live only in environment variables, never in what floe writes or prints.

For every target and every authentication variant, each variable the profile reads is set to a
random secret; ``floe validate`` and ``floe profiles`` must not let any of them reach a file,
stdout or stderr, and every credential key must read ``{{ env_var('NAME') }}``. A literal
credential in ``compute.properties`` is refused, naming the field and the variable to use.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from floe_scaffold.profiles import is_credential_key
from tests.helpers import TARGET_PROPERTIES, TARGETS, FloeRunner, contract_for, tree_snapshot
from tests.profiles.naming_table import expected_name

Json = Any
PROFILES_FILE = Path(".floe/profiles/profiles.yml")
# Credential keys written down independently of floe's own rule (checked together with it).
CREDENTIAL_KEYS = {
    "user",
    "username",
    "password",
    "passphrase",
    "private_key",
    "private_key_path",
    "private_key_passphrase",
    "token",
    "keyfile",
    "keyfile_json",
    "client_id",
    "client_secret",
    "api_key",
    "secret",
}
REQUIRED_REF = re.compile(r"\{\{ env_var\('([A-Z_][A-Z0-9_]*)'\) \}\}")
OPTIONAL_REF = re.compile(r"\{\{ env_var\('([A-Z_][A-Z0-9_]*)', ''\) \}\}")
ANY_REF = re.compile(r"env_var\('([^']*)'")


@dataclass(frozen=True)
class Variant:
    """One way to sign in to a target: extra properties, and the credential keys it must read."""

    target: str
    name: str
    properties: dict[str, Json] = field(default_factory=dict)
    required: frozenset[str] = frozenset()
    optional: frozenset[str] = frozenset()

    @property
    def id(self) -> str:
        return f"{self.target}-{self.name}"


def variant(
    target: str,
    name: str,
    properties: dict[str, Json] | None = None,
    required: tuple[str, ...] = (),
    optional: tuple[str, ...] = (),
) -> Variant:
    return Variant(target, name, properties or {}, frozenset(required), frozenset(optional))


VARIANTS = [
    variant("duckdb", "file"),
    variant("postgres", "password", required=("user", "password")),
    variant("snowflake", "default", required=("user", "password")),
    variant("snowflake", "snowflake", {"authenticator": "snowflake"}, ("user", "password")),
    variant(
        "snowflake",
        "snowflake_jwt",
        {"authenticator": "snowflake_jwt"},
        ("user", "private_key_path"),
        ("private_key_passphrase",),
    ),
    variant("snowflake", "oauth", {"authenticator": "oauth"}, ("user", "token")),
    variant("snowflake", "externalbrowser", {"authenticator": "externalbrowser"}, ("user",)),
    variant(
        "snowflake",
        "username_password_mfa",
        {"authenticator": "username_password_mfa"},
        ("user", "password"),
    ),
    variant("bigquery", "default"),
    variant("bigquery", "oauth", {"method": "oauth"}),
    variant("bigquery", "service-account", {"method": "service-account"}, ("keyfile",)),
    variant("redshift", "default", required=("user", "password")),
    variant("redshift", "database", {"method": "database"}, ("user", "password")),
    variant("redshift", "iam", {"method": "iam", "cluster_id": "analytics"}, ("user",)),
    variant("databricks", "default", required=("token",)),
    variant("databricks", "token", {"auth_type": "token"}, ("token",)),
    variant("databricks", "oauth", {"auth_type": "oauth"}, ("client_id", "client_secret")),
    variant("spark", "thrift"),
    variant("spark", "thrift-ldap", {"auth": "LDAP"}, ("user", "password")),
    variant("spark", "thrift-custom", {"auth": "CUSTOM"}, ("user", "password")),
    variant("spark", "thrift-ldap-lower", {"auth": "ldap"}, ("user", "password")),
    variant("spark", "thrift-nosasl", {"auth": "NOSASL"}),
    variant("spark", "http", {"method": "http", "cluster": "0123-abc"}, ("token",)),
    variant(
        "spark",
        "odbc-cluster",
        {"method": "odbc", "driver": "/opt/simba", "cluster": "c"},
        ("token",),
    ),
    variant(
        "spark",
        "odbc-endpoint",
        {"method": "odbc", "driver": "/opt/simba", "endpoint": "e1"},
        ("token",),
    ),
    variant("spark", "session", {"method": "session"}),
]
SECRET_REFS = [None, "prod-creds", "9lives.db"]


def secret_value() -> str:
    # Long and random, so it cannot turn up in a file by coincidence.
    return f"S3cr3t-{secrets.token_urlsafe(24)}"


def write_contract(directory: Path, data: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "compiled_artifacts.json"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def referenced_names(value: Json) -> set[str]:
    """Every variable named by an ``env_var`` call anywhere in ``value``."""
    if isinstance(value, str):
        return set(ANY_REF.findall(value))
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return {name for item in items for name in referenced_names(item)}


def credential_keys(output: dict[str, Json]) -> set[str]:
    return {key for key in output if key in CREDENTIAL_KEYS or is_credential_key(key)}


def assert_nowhere(values: list[str], texts: list[str], files: dict[str, bytes]) -> None:
    for value in values:
        for text in texts:
            assert value not in text
        for name, content in files.items():
            assert value.encode() not in content, name


def test_variants_cover_every_target() -> None:
    assert {v.target for v in VARIANTS} == set(TARGETS)


@pytest.mark.requirement("SC-007")
@pytest.mark.requirement("FR-003")
@pytest.mark.parametrize("secret_ref", SECRET_REFS, ids=lambda ref: str(ref))
@pytest.mark.parametrize("case", VARIANTS, ids=lambda case: case.id)
def test_secrets_stay_in_the_environment(
    floe: FloeRunner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: Variant,
    secret_ref: str | None,
) -> None:
    properties = {**TARGET_PROPERTIES[case.target], **case.properties}
    source = write_contract(
        tmp_path / "in",
        contract_for(case.target, properties=properties, connection_secret_ref=secret_ref),
    )
    keys = case.required | case.optional
    names = {key: expected_name(case.target, secret_ref, None, key) for key in keys}
    values = {name: secret_value() for name in names.values()}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    project = tmp_path / "project"

    checked = floe("validate", source)
    written = floe("profiles", source, "--project-dir", project)

    assert checked.exit_code == 0, checked.stderr
    assert written.exit_code == 0, written.stderr
    files = tree_snapshot(tmp_path)
    assert set(tree_snapshot(project)) == {str(PROFILES_FILE)}
    outputs = [checked.stdout, checked.stderr, written.stdout, written.stderr]
    assert_nowhere(list(values.values()), outputs, files)

    text = (project / PROFILES_FILE).read_text(encoding="utf-8")
    output = yaml.safe_load(text)["floe"]["outputs"]["dev"]
    assert credential_keys(output) == keys
    for key in case.required:
        match = REQUIRED_REF.fullmatch(output[key])
        assert match is not None, (key, output[key])
        assert match[1] == names[key]
    for key in case.optional:
        match = OPTIONAL_REF.fullmatch(output[key])
        assert match is not None, (key, output[key])
        assert match[1] == names[key]
    # Every variable the profile reads was set above, and the user is told about each.
    assert referenced_names(output) == set(values)
    for name in values:
        assert f"# needs {name} " in text
        assert name in written.stdout


@pytest.mark.requirement("SC-007")
@pytest.mark.requirement("FR-003")
@pytest.mark.parametrize("target", TARGETS)
def test_each_environment_reads_its_own_secrets(
    floe: FloeRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    case = next(v for v in VARIANTS if v.target == target and (v.required or target == "duckdb"))
    properties = {**TARGET_PROPERTIES[target], **case.properties}
    source = write_contract(
        tmp_path / "in", contract_for(target, properties=properties, connection_secret_ref="team")
    )
    envs = ("dev", "prod")
    names = {
        (env, key): expected_name(target, "team", env, key)
        for env in envs
        for key in case.required | case.optional
    }
    values = {name: secret_value() for name in names.values()}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    project = tmp_path / "project"

    result = floe("profiles", source, "--project-dir", project, "--env", "dev", "--env", "prod")

    assert result.exit_code == 0, result.stderr
    assert_nowhere(list(values.values()), [result.stdout, result.stderr], tree_snapshot(tmp_path))
    outputs = yaml.safe_load((project / PROFILES_FILE).read_text(encoding="utf-8"))["floe"][
        "outputs"
    ]
    assert list(outputs) == list(envs)
    for (env, key), name in names.items():
        assert ANY_REF.findall(outputs[env][key]) == [name]
    assert len(set(names.values())) == len(names)


# --------------------------------------------------------------------------------------------
# Literal credentials in the contract are refused
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    """A contract that carries a credential value, and where floe must point."""

    target: str
    properties: dict[str, Json]
    path: str  # below compute.properties
    env_key: str | None  # the profile key whose variable the message must name

    @property
    def id(self) -> str:
        return f"{self.target}-{self.path}"


MARK = "LITERAL_SECRET"
LITERALS = [
    Literal("postgres", {"password": MARK}, "password", "password"),
    Literal("postgres", {"user": MARK}, "user", "user"),
    Literal("redshift", {"password": MARK}, "password", "password"),
    Literal("snowflake", {"password": MARK}, "password", "password"),
    Literal("snowflake", {"token": MARK}, "token", "token"),
    Literal("snowflake", {"PASSWORD": MARK}, "PASSWORD", "PASSWORD"),
    Literal(
        "snowflake",
        {"private_key_passphrase": MARK},
        "private_key_passphrase",
        "private_key_passphrase",
    ),
    Literal(
        "snowflake",
        {"authenticator": "snowflake_jwt", "private_key_passphrase": MARK},
        "private_key_passphrase",
        "private_key_passphrase",
    ),
    Literal("databricks", {"token": MARK}, "token", "token"),
    Literal(
        "databricks",
        {"auth_type": "oauth", "client_secret": MARK},
        "client_secret",
        "client_secret",
    ),
    Literal("bigquery", {"method": "service-account", "keyfile": MARK}, "keyfile", "keyfile"),
    Literal("spark", {"auth": "LDAP", "password": MARK}, "password", "password"),
    Literal("spark", {"method": "http", "cluster": "c", "token": MARK}, "token", "token"),
    Literal("duckdb", {"motherduck_token": MARK}, "motherduck_token", "motherduck_token"),
    Literal("postgres", {"connect_args": {"password": MARK}}, "connect_args.password", None),
    Literal(
        "duckdb",
        {"settings": {"s3_secret_access_key": MARK}},
        "settings.s3_secret_access_key",
        None,
    ),
    Literal("snowflake", {"extras": [{"api_key": MARK}]}, "extras[0].api_key", None),
]


@pytest.mark.requirement("SC-007")
@pytest.mark.requirement("FR-003")
@pytest.mark.parametrize("case", LITERALS, ids=lambda case: case.id)
def test_literal_credentials_are_refused(floe: FloeRunner, tmp_path: Path, case: Literal) -> None:
    value = secret_value()
    properties = _replace_mark({**TARGET_PROPERTIES[case.target], **case.properties}, value)
    source = write_contract(
        tmp_path,
        contract_for(case.target, properties=properties, connection_secret_ref="prod-creds"),
    )
    before = tree_snapshot(tmp_path)

    checked = floe("validate", source)
    written = floe("profiles", source, "--project-dir", tmp_path)

    for result in (checked, written):
        assert result.exit_code == 1, result.stderr
        assert result.stdout == ""
        assert "Traceback" not in result.stderr
        assert value not in result.stderr
        lines = result.stderr.splitlines()
        field_path = f"compute.properties.{case.path}"
        issue = next((line for line in lines if line.strip().startswith(f"{field_path}: ")), None)
        assert issue is not None, result.stderr
        if case.env_key is not None:
            name = expected_name(case.target, "prod-creds", None, case.env_key)
            assert re.search(rf"\b{name}\b", issue), issue
        else:
            # Nested: no variable can stand in for it, but the message says why it is refused.
            assert "credentials never go in the contract" in issue
    assert tree_snapshot(tmp_path) == before


def _replace_mark(value: Json, secret: str) -> Json:
    if value == MARK:
        return secret
    if isinstance(value, dict):
        return {key: _replace_mark(item, secret) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace_mark(item, secret) for item in value]
    return value


def test_the_checks_can_fail() -> None:
    """assert_nowhere and the reference patterns are not vacuous."""
    with pytest.raises(AssertionError):
        assert_nowhere(["s3"], ["has s3 in it"], {})
    with pytest.raises(AssertionError):
        assert_nowhere(["s3"], [], {"f": b"xx s3"})
    assert REQUIRED_REF.fullmatch("{{ env_var('A_B') }}")
    assert not REQUIRED_REF.fullmatch("{{ env_var('A_B', '') }}")
    assert not REQUIRED_REF.fullmatch("hunter2")
    assert OPTIONAL_REF.fullmatch("{{ env_var('A_B', '') }}")
