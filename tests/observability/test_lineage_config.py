"""Where lineage goes (precedence of contract, OPENLINEAGE_*, component) and how it is sent."""

from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from floe_scaffold.lineage import resolve_lineage
from floe_scaffold.lineage._dispatch import QUEUE_SIZE, Dispatcher
from floe_scaffold.lineage._transport import dispatcher_for
from tests.helpers import docs_page


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


def test_the_projects_openlineage_yml_is_found_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    received = tmp_path / "received.jsonl"
    (project / "openlineage.yml").write_text(
        f"transport: {{type: file, log_file_path: '{received}', append: true}}\n",
        encoding="utf-8",
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # `floe run --project-dir project` from another folder
    target = resolve_lineage(project_root=project)
    assert (target.kind, target.location) == ("client-config", str(project / "openlineage.yml"))
    dispatcher = dispatcher_for(target)
    dispatcher.submit(_event("from-elsewhere"))
    assert dispatcher.flush(10)
    assert "from-elsewhere" in received.read_text(encoding="utf-8"), "the file's own transport"
    # The working directory's file still comes first (the OpenLineage client's own rule).
    (elsewhere / "openlineage.yml").write_text("transport: {type: console}\n", encoding="utf-8")
    assert resolve_lineage(project_root=project).location == "openlineage.yml"
    # A project file that is no configuration turns lineage off for the run, with a warning.
    (elsewhere / "openlineage.yml").unlink()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "openlineage.yml").write_text("- not a mapping\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        silent = dispatcher_for(resolve_lineage(project_root=broken))
    silent.submit(_event("nowhere"))
    assert silent.flush(5) and not silent.broken
    assert "lineage is off for this run" in caplog.text and "broken/openlineage.yml" in caplog.text


def _event(job: str) -> Any:
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState

    return RunEvent(
        eventType=RunState.START,
        eventTime="2026-01-01T00:00:00Z",
        run=Run(runId="01890000-0000-7000-8000-000000000000"),
        job=Job(namespace="floe", name=job),
        producer="https://github.com/floe-runtime/floe-scaffold",
    )


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


def test_the_readme_states_the_queue_bound_the_code_has() -> None:
    readme = docs_page("explanation/lineage.md")
    found = re.search(r"holds at most ([\d,]+) of them queued", readme)
    assert found is not None, "README states the queue's bound"
    assert int(found.group(1).replace(",", "")) == QUEUE_SIZE


def test_an_endpoint_too_far_behind_loses_events_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The queue is bounded: what finds it full is dropped, and the first drop says so."""
    release = threading.Event()
    sent: list[int] = []

    def slow(event: int) -> None:
        release.wait(60)
        sent.append(event)

    dispatcher = Dispatcher(slow, "http://collector:5000")
    for number in range(QUEUE_SIZE + 3):  # one in the send, QUEUE_SIZE queued, 2 too many
        dispatcher.submit(number)
        if number == 0:  # the worker took the first event: the queue is empty again
            while dispatcher._queue.qsize():  # waits on the worker, not on a timer
                time.sleep(0.01)
    assert dispatcher.dropped == 2
    warnings = [r.getMessage() for r in caplog.records if "events behind the run" in r.getMessage()]
    assert len(warnings) == 1
    assert "http://collector:5000" in warnings[0] and "floe lineage --send" in warnings[0]
    release.set()
    assert dispatcher.flush(60.0)
    assert sent == list(range(QUEUE_SIZE + 1)), "what was queued went, in order"
    assert not dispatcher.broken, "a slow endpoint is not a failed one"


#: What a loaded 2-core machine may add to any short wait (a thread can stall for seconds).
SCHEDULING_SLACK = 5.0


def test_flush_is_bounded_when_the_endpoint_hangs() -> None:
    release = threading.Event()

    def hang(_event: object) -> None:
        release.wait(60)

    dispatcher = Dispatcher(hang, "hanging")
    dispatcher.submit(1)
    started = time.monotonic()
    assert not dispatcher.flush(0.3)
    assert time.monotonic() - started < 0.3 + SCHEDULING_SLACK  # not the 60 s hang
    release.set()
    assert dispatcher.flush(30.0)


def test_a_send_stuck_past_its_timeout_opens_the_breaker(caplog: pytest.LogCaptureFixture) -> None:
    """An endpoint dripping its answer never trips the per-read timeout: once the send has taken
    longer than the timeout, flush stops waiting for it, later events are dropped, one warning."""
    release = threading.Event()
    calls: list[int] = []

    def drip(event: int) -> None:
        calls.append(event)
        release.wait(60)

    dispatcher = Dispatcher(drip, "http://127.0.0.1:9", stuck_after=0.2)
    try:
        dispatcher.submit(1)
        dispatcher.submit(2)
        deadline = time.monotonic() + 30
        while not calls and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="floe_scaffold.lineage"):
            assert not dispatcher.flush(30.0)
            assert time.monotonic() - started < 15, "flush waited for the stuck send"
            assert dispatcher.broken
            assert not dispatcher.flush(30.0)  # once stuck, no wait at all ...
            assert time.monotonic() - started < 15
            dispatcher.submit(3)  # ... and nothing more queued
        assert calls == [1]
        warnings = [
            r.getMessage() for r in caplog.records if "OpenLineage endpoint" in r.getMessage()
        ]
        assert len(warnings) == 1
        assert "past the 0.2 s timeout" in warnings[0]
        assert "http://127.0.0.1:9" in warnings[0]
    finally:
        release.set()
    deadline = time.monotonic() + 30
    while not dispatcher.flush(0.05) and time.monotonic() < deadline:
        pass  # flush returns at once while the released send is still returning
    assert calls == [1], "events queued behind the stuck send are dropped, not sent late"
    assert dispatcher.dropped == 2


def test_a_slow_send_within_its_timeout_is_waited_for() -> None:
    """Slow but within the timeout is not stuck: flush waits, nothing is dropped."""
    sent: list[int] = []

    def slow(event: int) -> None:
        time.sleep(0.2)
        sent.append(event)

    dispatcher = Dispatcher(slow, "slow", stuck_after=30.0)
    for number in range(3):
        dispatcher.submit(number)
    assert dispatcher.flush(30.0)
    assert sent == [0, 1, 2]
    assert not dispatcher.broken


def test_flush_waits_for_a_queue_that_keeps_draining() -> None:
    """A healthy endpoint on a loaded machine: the queue takes longer than ``idle`` to drain, but
    an event goes out within every ``idle`` seconds, so flush waits for all of them (a fixed
    one-second wait lost the last model's events on a loaded CI machine)."""
    sent: list[int] = []

    def steady(event: int) -> None:
        time.sleep(0.1)
        sent.append(event)

    dispatcher = Dispatcher(steady, "steady", stuck_after=30.0)
    for number in range(10):
        dispatcher.submit(number)
    assert dispatcher.flush(30.0, idle=0.6)  # 1 s of sends, none of them 0.6 s apart
    assert sent == list(range(10))


def test_flush_gives_up_once_nothing_goes_out_for_idle_seconds() -> None:
    release = threading.Event()

    def hang(_event: object) -> None:
        release.wait(60)

    dispatcher = Dispatcher(hang, "hanging")
    try:
        dispatcher.submit(1)
        started = time.monotonic()
        assert not dispatcher.flush(30.0, idle=0.3)
        assert time.monotonic() - started < 0.3 + SCHEDULING_SLACK  # not the 30 s bound
    finally:
        release.set()
