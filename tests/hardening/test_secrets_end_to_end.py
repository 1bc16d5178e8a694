"""SC-007 end to end: a credential in the environment never reaches a file, a log, a span, an event.

For each of the 7 targets, every variable its profile reads is set to a random secret, and so is
every credential variable of the *other* targets, ``OPENLINEAGE_API_KEY`` and an OTLP
``authorization`` header. Then, with lineage and tracing on (a live OpenLineage receiver and a live
OTLP collector):

* ``floe validate``, ``floe init`` and ``floe profiles`` run in-process;
* on DuckDB and on PostgreSQL (a real server, a login role made for this test with a random name
  and password), ``floe run`` materializes every asset with Dagster's instance on disk;
* on the five targets that cannot run here (Snowflake, BigQuery, Redshift, Databricks, Spark on a
  Thrift server), the generated project's definitions load with the target's real adapter
  (``dg check defs``, which runs ``dbt parse``).

No secret may appear in any file of the project or of the Dagster instance, in anything printed,
in any span (name, attributes, events, resource) or in any lineage event. Secrets are random per
session (the seed is in every failure message) and mix punctuation with a random alphanumeric
core; the scan looks for the whole value and for its core, so an escaped copy is found too.
"""

from __future__ import annotations

import json
import os
import random
import string
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from floe_scaffold.contract import parse_artifacts
from floe_scaffold.profiles import Environment, build_profile, default_environment_name
from tests.helpers import TARGET_PROPERTIES, TARGETS, FloeRunner, contract_for, write_json
from tests.observability.lineage_receiver import LineageReceiver
from tests.observability.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.postgres import PostgresInfo
from tests.project.conftest import BIN, DEMO_ASSETS, quiet_env

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("FLOE_SECRETS_SEED") or random.SystemRandom().randrange(2**32))
#: Characters that break naive quoting in YAML, JSON, Jinja, shells and URLs.
_AWKWARD = "'\"$`{}#:%\\ &|;<>!*?=@/+[],"
#: Sign-in variants whose profile reads the most credentials, per target.
AUTH_PROPERTIES: dict[str, dict[str, Any]] = {
    "duckdb": {},
    "postgres": {},
    "snowflake": {},
    "bigquery": {"method": "service-account"},
    "redshift": {},
    "databricks": {"auth_type": "oauth"},
    "spark": {"auth": "LDAP"},
}
#: Credential variables of every target under its default prefix: decoys for the others.
DECOYS = [
    f"FLOE_{target.upper()}_{key}"
    for target in TARGETS
    for key in ("USER", "PASSWORD", "TOKEN", "KEYFILE", "CLIENT_SECRET", "PRIVATE_KEY_PASSPHRASE")
]


@dataclass(frozen=True)
class Secret:
    """A random credential: the value to set, and its alphanumeric core to search for."""

    value: str
    core: str


def make_secret(rng: random.Random, *, plain: bool = False) -> Secret:
    core = "".join(rng.choices(string.ascii_letters + string.digits, k=20))
    if plain:  # for the few places that take only letters and digits (a role name)
        return Secret(f"s{core.lower()}", core.lower())
    left, right = rng.choices(_AWKWARD, k=2), rng.choices(_AWKWARD, k=2)
    return Secret(f"{''.join(left)}{core}{''.join(right)}", core)


class Vault:
    """The secrets of one test: set in the environment, then searched for everywhere."""

    def __init__(self, label: str) -> None:
        self.rng = random.Random(f"{SEED}-{label}")
        self.secrets: dict[str, Secret] = {}

    def add(self, name: str, secret: Secret | None = None) -> Secret:
        self.secrets[name] = secret or make_secret(self.rng)
        return self.secrets[name]

    @property
    def env(self) -> dict[str, str]:
        return {name: secret.value for name, secret in self.secrets.items()}

    def needles(self) -> list[tuple[str, str]]:
        return [
            (name, needle)
            for name, secret in self.secrets.items()
            for needle in dict.fromkeys([secret.value, secret.core])
        ]

    def assert_not_in_text(self, where: str, text: str) -> None:
        for name, needle in self.needles():
            assert needle not in text, f"{name} leaked into {where} (FLOE_SECRETS_SEED={SEED})"

    def assert_not_in_tree(self, root: Path) -> int:
        """Scan every file under ``root`` (bytes); return how many files were scanned."""
        needles = [(name, needle.encode()) for name, needle in self.needles()]
        count = 0
        for path in root.rglob("*"):
            if not path.is_file() or path.is_symlink():
                continue
            content = path.read_bytes()
            count += 1
            for name, needle in needles:
                assert needle not in content, (
                    f"{name} leaked into {path} (FLOE_SECRETS_SEED={SEED})"
                )
        return count


def profile_variables(contract_path: Path) -> list[tuple[str, bool]]:
    """Every variable the contract's profile reads, and whether it is a credential."""
    artifacts = parse_artifacts(contract_path.read_bytes())
    profile = build_profile([Environment(default_environment_name(artifacts), artifacts)])
    return [(var.name, var.secret) for _, var in profile.env_vars]


def observed_env(
    vault: Vault, lineage: LineageReceiver, otlp: OtlpReceiver, **extra: str
) -> dict[str, str]:
    """The subprocess environment: quiet, the secrets, lineage and tracing to the receivers."""
    header = vault.add("OTEL_EXPORTER_OTLP_HEADERS token")
    api_key = vault.add("OPENLINEAGE_API_KEY")
    base = {
        name: value
        for name, value in quiet_env().items()
        if not name.startswith(("OTEL_", "OPENLINEAGE", "FLOE_", "DBT_ENV"))
    }
    return {
        **base,
        **vault.env,
        "OPENLINEAGE_URL": lineage.url,
        "OPENLINEAGE_API_KEY": api_key.value,
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.http_endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        # A header value may not hold every character; the token is the alphanumeric core.
        "OTEL_EXPORTER_OTLP_HEADERS": f"authorization=Bearer%20{header.core}",
        **extra,
    }


def in_project(
    project: Path, env: dict[str, str], *command: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command),
        cwd=project,
        env={**env, "PYTHONPATH": str(project / "src")},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def span_text(span: ReceivedSpan) -> str:
    return repr(
        (
            span.name,
            span.attributes,
            span.resource,
            span.events,
            span.status_message,
            span.scope_name,
        )
    )


@dataclass
class Scene:
    """One target's project, generated in-process with its secrets set."""

    target: str
    project: Path
    vault: Vault
    outputs: list[tuple[str, str]]


@pytest.fixture
def scene(
    request: pytest.FixtureRequest,
    floe: FloeRunner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Scene]:
    """Generate the project of ``request.param`` (a target) with random secrets in the env."""
    target: str = request.param
    vault = Vault(target)
    properties = {**TARGET_PROPERTIES[target], **AUTH_PROPERTIES[target]}
    if target == "postgres":
        server: PostgresInfo = request.getfixturevalue("postgres_server")
        properties.update({"host": server.host, "port": server.port, "database": server.database})
        properties["schema"] = "secrets_e2e"
    elif target == "duckdb":
        properties["path"] = "warehouse.duckdb"
    contract = write_json(
        tmp_path, contract_for(target, properties=properties, connection_secret_ref="wh-creds")
    )
    variables = profile_variables(contract)
    assert target == "duckdb" or any(secret for _, secret in variables), "a test that can fail"
    for name, _ in variables:
        vault.add(name)
    for name in DECOYS:
        vault.add(name)
    if target == "postgres":
        # A login role of this test's own, with a random name and password.
        user = vault.add("WH_CREDS_USER", make_secret(vault.rng, plain=True))
        password = vault.add("WH_CREDS_PASSWORD")
        _create_role(server, user.value, password.value)
    for name, value in vault.env.items():
        monkeypatch.setenv(name, value)

    project = tmp_path / "shop"
    outputs = []
    for args in (
        ("validate", contract),
        ("init", project, "--artifacts", contract),
        ("profiles", project / ".floe/compiled_artifacts.json", "--project-dir", project),
    ):
        result = floe(*args)
        assert result.exit_code == 0, result.stderr
        outputs += [
            (f"floe {args[0]} stdout", result.stdout),
            (f"floe {args[0]} stderr", result.stderr),
        ]
    yield Scene(target, project, vault, outputs)
    if target == "postgres":
        _drop_role(server, vault.secrets["WH_CREDS_USER"].value)


def _create_role(server: PostgresInfo, user: str, password: str) -> None:
    admin = server.connect(admin=True)
    try:
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE ROLE "{user}" LOGIN PASSWORD %s', (password,))
            cursor.execute(f'GRANT CONNECT, CREATE ON DATABASE {server.database} TO "{user}"')
    finally:
        admin.close()


def _drop_role(server: PostgresInfo, user: str) -> None:
    admin = server.connect(admin=True)
    try:
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f'DROP OWNED BY "{user}" CASCADE')
            cursor.execute(f'DROP ROLE "{user}"')
    finally:
        admin.close()


RUNNING = ("duckdb", "postgres")


@pytest.mark.requirement("SC-007")
@pytest.mark.requirement("FR-003")
@pytest.mark.parametrize("scene", [t for t in TARGETS if t not in RUNNING], indirect=True)
def test_no_secret_leaks_while_generating_and_loading(
    scene: Scene, lineage_receiver: LineageReceiver, otlp_receiver: OtlpReceiver
) -> None:
    env = observed_env(scene.vault, lineage_receiver, otlp_receiver)
    loaded = in_project(scene.project, env, str(BIN / "dg"), "check", "defs")
    assert loaded.returncode == 0, loaded.stdout[-3000:] + loaded.stderr[-3000:]
    assert "All definitions loaded successfully" in loaded.stdout + loaded.stderr
    assert (scene.project / "dbt/target/manifest.json").is_file(), "dbt parse ran"

    for where, text in [*scene.outputs, ("dg stdout", loaded.stdout), ("dg stderr", loaded.stderr)]:
        scene.vault.assert_not_in_text(where, text)
    assert scene.vault.assert_not_in_tree(scene.project) > 20


@pytest.mark.requirement("SC-007")
@pytest.mark.requirement("FR-003")
@pytest.mark.parametrize("scene", RUNNING, indirect=True)
def test_no_secret_leaks_from_a_real_run(
    scene: Scene, tmp_path: Path, lineage_receiver: LineageReceiver, otlp_receiver: OtlpReceiver
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = observed_env(scene.vault, lineage_receiver, otlp_receiver, DAGSTER_HOME=str(home))
    done = in_project(scene.project, env, str(BIN / "floe"), "run", "--log-format", "json")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.split("run ")[-1].count("success") == len(DEMO_ASSETS)

    events = lineage_receiver.wait_for(2 * len(DEMO_ASSETS), timeout=10)
    spans = otlp_receiver.wait_for(len(DEMO_ASSETS) + 1, timeout=10)
    assert lineage_receiver.invalid == []
    # The header really was sent (so its absence from spans means something).
    header = scene.vault.secrets["OTEL_EXPORTER_OTLP_HEADERS token"].core
    assert any(header in r.headers.get("authorization", "") for r in otlp_receiver.requests)

    vault = scene.vault
    for where, text in [*scene.outputs, ("floe run stdout", done.stdout)]:
        vault.assert_not_in_text(where, text)
    vault.assert_not_in_text("floe run log lines", done.stderr)
    for event in events:
        vault.assert_not_in_text(f"lineage event {event['job']['name']}", json.dumps(event))
    for span in spans:
        vault.assert_not_in_text(f"span {span.name!r}", span_text(span))
    assert vault.assert_not_in_tree(scene.project) > 20
    assert vault.assert_not_in_tree(home) > 0, "the Dagster instance recorded the run"


@pytest.mark.requirement("SC-007")
@pytest.mark.parametrize("scene", ["duckdb"], indirect=True)
def test_credentials_in_endpoint_urls_never_reach_a_log_line(
    scene: Scene, tmp_path: Path, refused_url: str
) -> None:
    """Both endpoints refuse, so each failure is logged; the logs name them without credentials."""
    vault = scene.vault
    user, password = vault.add("lineage URL user"), vault.add("lineage URL password")
    token = vault.add("OTLP URL token")
    api_key = vault.add("OPENLINEAGE_API_KEY")
    host = refused_url.split("//")[1]
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {
        **{k: v for k, v in quiet_env().items() if not k.startswith(("OTEL_", "OPENLINEAGE"))},
        **vault.env,
        "OPENLINEAGE_URL": f"http://{user.core}:{password.core}@{host}/",
        "OPENLINEAGE_API_KEY": api_key.value,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{token.core}@{host}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "DAGSTER_HOME": str(home),
    }
    done = in_project(scene.project, env, str(BIN / "floe"), "run")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    warnings = [line for line in done.stderr.splitlines() if "OpenLineage endpoint" in line]
    assert len(warnings) == 1, done.stderr[-3000:]
    assert f"http://***@{host}" in warnings[0]
    assert "carries credentials in its URL" in done.stderr
    vault.assert_not_in_text("floe run stdout", done.stdout)
    vault.assert_not_in_text("floe run stderr", done.stderr)
    vault.assert_not_in_tree(scene.project)
    vault.assert_not_in_tree(home)


def test_the_scan_can_fail(tmp_path: Path) -> None:
    vault = Vault("self-check")
    secret = vault.add("X")
    (tmp_path / "escaped.json").write_text(json.dumps({"v": secret.value}), encoding="utf-8")
    with pytest.raises(AssertionError, match="X leaked"):
        vault.assert_not_in_tree(tmp_path)
    with pytest.raises(AssertionError, match="X leaked"):
        vault.assert_not_in_text("a log", f"token={secret.core}")
