"""Where lineage goes (precedence of contract, OPENLINEAGE_*, component) and how it is sent."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from floe_scaffold.lineage import resolve_lineage
from floe_scaffold.lineage._dispatch import Dispatcher


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "OPENLINEAGE_URL",
        "OPENLINEAGE_CONFIG",
        "OPENLINEAGE_DISABLED",
        "OPENLINEAGE_NAMESPACE",
        "OPENLINEAGE_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_the_contract_sets_the_default(tmp_path: Path) -> None:
    target = resolve_lineage(
        project_root=tmp_path, contract_endpoint="http://marquez:5000", contract_namespace="ns"
    )
    assert (target.kind, target.location, target.namespace) == ("http", "http://marquez:5000", "ns")


def test_no_endpoint_means_a_local_jsonl_file(tmp_path: Path) -> None:
    target = resolve_lineage(project_root=tmp_path)
    assert target.kind == "file"
    assert target.location == str(tmp_path / ".floe/lineage/events.jsonl")
    assert target.namespace == "floe"


def test_openlineage_url_overrides_the_contract(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENLINEAGE_URL", "http://env:1")
    monkeypatch.setenv("OPENLINEAGE_NAMESPACE", "env-ns")
    target = resolve_lineage(
        project_root=tmp_path, contract_endpoint="http://contract:2", contract_namespace="c"
    )
    assert (target.location, target.namespace) == ("http://env:1", "env-ns")


def test_openlineage_config_or_yaml_uses_the_clients_own_transport(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "openlineage.yml").write_text("transport: {type: console}\n", encoding="utf-8")
    assert resolve_lineage(project_root=tmp_path).kind == "client-config"
    monkeypatch.setenv("OPENLINEAGE_CONFIG", "/etc/ol.yml")
    target = resolve_lineage(project_root=tmp_path)
    assert (target.kind, target.location) == ("client-config", "/etc/ol.yml")


def test_the_component_overrides_everything_but_disabled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENLINEAGE_URL", "http://env:1")
    target = resolve_lineage(
        project_root=tmp_path, endpoint="http://yaml:3", namespace="yaml-ns", timeout=0.5
    )
    assert (target.location, target.namespace, target.timeout) == ("http://yaml:3", "yaml-ns", 0.5)
    assert not resolve_lineage(project_root=tmp_path, enabled=False).enabled
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
    assert not resolve_lineage(project_root=tmp_path, enabled=True, endpoint="http://y").enabled


def test_the_contract_can_switch_lineage_off(tmp_path: Path) -> None:
    assert not resolve_lineage(project_root=tmp_path, contract_enabled=False).enabled
    assert resolve_lineage(project_root=tmp_path, contract_enabled=False, enabled=True).enabled


def test_the_dispatcher_sends_in_order() -> None:
    sent: list[int] = []
    dispatcher = Dispatcher(sent.append, "memory")
    for number in range(50):
        dispatcher.submit(number)
    assert dispatcher.flush(5.0)
    assert sent == list(range(50))
    assert (dispatcher.sent, dispatcher.dropped, dispatcher.broken) == (50, 0, False)


def test_one_failure_opens_the_breaker_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def failing(event: int) -> None:
        calls.append(event)
        raise ConnectionError("refused")

    dispatcher = Dispatcher(failing, "http://127.0.0.1:9")
    for number in range(10):
        dispatcher.submit(number)
    assert dispatcher.flush(5.0)
    assert calls == [0], "never more than one attempt (one timeout) per process"
    assert dispatcher.broken
    assert dispatcher.dropped == 10
    warnings = [r for r in caplog.records if "OpenLineage endpoint" in r.getMessage()]
    assert len(warnings) == 1
    assert "http://127.0.0.1:9" in warnings[0].getMessage()


def test_flush_is_bounded_when_the_endpoint_hangs() -> None:
    release = threading.Event()

    def hang(_event: object) -> None:
        release.wait(10)

    dispatcher = Dispatcher(hang, "hanging")
    dispatcher.submit(1)
    started = time.monotonic()
    assert not dispatcher.flush(0.3)
    assert time.monotonic() - started < 1.0
    release.set()
    assert dispatcher.flush(5.0)
