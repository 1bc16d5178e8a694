"""``floe lineage --send``: the local log replayed to a real receiver, in order, resumable."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from floe_scaffold._cli import main
from floe_scaffold.lineage import LineageTarget
from floe_scaffold.lineage._log import LogReader
from floe_scaffold.lineage._send import send_log
from floe_scaffold.lineage._transport import client_transport
from tests.manifests import synthetic_manifest
from tests.observability.lineage_receiver import LineageReceiver
from tests.observability.lineage_runs import record_run

#: No OPENLINEAGE_* variable of the machine, no openlineage.yml of its own.
pytestmark = pytest.mark.usefixtures("openlineage_env")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder whose log holds two runs (one failed) and one torn line."""
    log = tmp_path / "shop" / ".floe" / "lineage" / "events.jsonl"
    log.parent.mkdir(parents=True)
    manifest = synthetic_manifest(10)
    record_run(manifest, log)
    with log.open("ab") as handle:
        handle.write(b'{"eventType": "START", "torn')
    record_run(manifest, log, fail="int_domain0__1")
    return log.parents[2]


def _logged(project: Path) -> list[dict[str, object]]:
    return list(LogReader(project / ".floe/lineage/events.jsonl").events())


def test_every_event_arrives_once_in_order_and_valid(
    project: Path, lineage_receiver: LineageReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["lineage", "--project-dir", str(project), "--send", lineage_receiver.url])
    out = capsys.readouterr().out
    assert code == 0, out
    logged = _logged(project)
    assert lineage_receiver.invalid == []
    assert lineage_receiver.events == logged
    assert f"{len(logged)} sent, 0 refused, 1 skipped" in out
    again = main(["lineage", "--project-dir", str(project), "--send", lineage_receiver.url])
    assert again == 0
    assert len(lineage_receiver.events) == len(logged), "nothing is sent twice"
    assert f"0 sent, 0 refused, 1 skipped (unreadable lines), {len(logged)} sent before" in (
        capsys.readouterr().out
    )


def test_openlineage_url_is_honoured(
    project: Path, lineage_receiver: LineageReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENLINEAGE_CONFIG")
    monkeypatch.setenv("OPENLINEAGE_URL", lineage_receiver.url)
    monkeypatch.setenv("OPENLINEAGE_API_KEY", "s3cret-key")
    assert main(["lineage", "--project-dir", str(project), "--send"]) == 0
    assert lineage_receiver.events == _logged(project)


def test_openlineage_yml_is_honoured(
    project: Path, lineage_receiver: LineageReceiver, openlineage_env: Path
) -> None:
    openlineage_env.write_text(
        f"transport:\n  type: http\n  url: {lineage_receiver.url}\n  timeout: 2\n",
        encoding="utf-8",
    )
    assert main(["lineage", "--project-dir", str(project), "--send"]) == 0
    assert lineage_receiver.events == _logged(project)


def test_a_second_send_after_a_partial_one_sends_only_the_rest(
    project: Path, lineage_receiver: LineageReceiver
) -> None:
    logged = _logged(project)
    target = LineageTarget("http", lineage_receiver.url, "floe", 2.0)
    half = len(logged) // 2

    def break_midway(_: object) -> None:
        if len(lineage_receiver.events) == half:
            lineage_receiver.mode = "error500"  # the endpoint goes down mid-replay

    first = send_log(
        project / ".floe/lineage/events.jsonl",
        target,
        client_transport(target),
        timeout=2.0,
        on_progress=break_midway,
    )
    assert first.sent == half
    assert first.stopped == "HTTP 500"
    assert first.left == len(logged) - half
    lineage_receiver.mode = "ok"
    assert main(["lineage", "--project-dir", str(project), "--send", lineage_receiver.url]) == 0
    assert lineage_receiver.events == logged, "each event once, in order"


def test_events_the_endpoint_refuses_are_counted_and_the_rest_go(
    project: Path, lineage_receiver: LineageReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    log = project / ".floe/lineage/events.jsonl"
    invalid = {"eventType": "START", "job": {"namespace": "x", "name": "bad"}, "run": {}}
    with log.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(invalid) + "\n")  # no runId: the receiver answers 400
    code = main(["lineage", "--project-dir", str(project), "--send", lineage_receiver.url])
    captured = capsys.readouterr()
    assert code == 1
    assert "1 refused" in captured.out
    assert "START bad: HTTP 400" in captured.err
    assert len(lineage_receiver.events) == len(_logged(project)) - 1


@pytest.mark.parametrize("endpoint", ["refused_url", "hanging_url", "garbage_url", "slow_drip_url"])
def test_a_broken_endpoint_ends_with_a_summary_and_exit_2_in_bounded_time(
    project: Path,
    endpoint: str,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = request.getfixturevalue(endpoint)
    started = time.monotonic()
    code = main(["lineage", "--project-dir", str(project), "--send", url, "--timeout", "1"])
    took = time.monotonic() - started
    captured = capsys.readouterr()
    assert code == 2
    assert took < 10, f"{endpoint}: {took:.1f} s"
    total = len(_logged(project))
    assert f"0 sent, 0 refused, 1 skipped (unreadable lines), 0 sent before, {total} left" in (
        captured.out
    )
    assert "run the same command again to send the rest" in captured.err
    assert "Traceback" not in captured.err


def test_an_api_key_variable_that_is_not_set_is_named(
    project: Path, lineage_receiver: LineageReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--send", lineage_receiver.url, "--api-key-env", "FLOE_TEST_NO_SUCH_KEY"]
    code = main(["lineage", "--project-dir", str(project), *args])
    assert code == 2
    assert "FLOE_TEST_NO_SUCH_KEY" in capsys.readouterr().err
    assert lineage_receiver.hits == []


def test_no_credential_reaches_the_output_or_the_cursor_file(
    project: Path,
    lineage_receiver: LineageReceiver,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FLOE_TEST_LINEAGE_KEY", "k3y-$ecret-value")
    url = (
        lineage_receiver.url.replace("http://", "http://someone:pa55-w0rd@") + "?token=t0ken-value"
    )
    args = ["--send", url, "--api-key-env", "FLOE_TEST_LINEAGE_KEY"]
    code = main(["lineage", "--project-dir", str(project), *args])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert lineage_receiver.events == _logged(project)
    cursor = (project / ".floe/lineage/sent.json").read_text(encoding="utf-8")
    for secret in ("k3y-$ecret-value", "pa55-w0rd", "someone", "t0ken-value"):
        assert secret not in captured.out + captured.err + cursor
