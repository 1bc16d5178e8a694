"""Credentials in endpoint URLs and API keys never reach a log line or a repr (in-process checks).

The end-to-end counterpart, with a real run, is in ``test_secrets_end_to_end.py``.
"""

from __future__ import annotations

import logging
import threading

import pytest

from floe_scaffold.lineage import LineageTarget
from floe_scaffold.lineage._config import redacted_url, url_secrets
from floe_scaffold.lineage._dispatch import Dispatcher
from floe_scaffold.tracing import TracingTarget
from floe_scaffold.tracing._provider import _exporter


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://marquez:5000", "http://marquez:5000"),
        ("https://marquez.example/api", "https://marquez.example/api"),
        ("http://user:pa55word@marquez:5000/", "http://***@marquez:5000/"),
        ("https://t0k3n@marquez/", "https://***@marquez/"),
        ("http://h/?api_key=s3cr3t&v=1", "http://h/?api_key=***&v=***"),
        ("http://h/#fragment-token", "http://h/"),
        ("/tmp/project/.floe/lineage/events.jsonl", "/tmp/project/.floe/lineage/events.jsonl"),
        ("openlineage.yml", "openlineage.yml"),
        ("http://[::1", "<an unparsable URL>"),
    ],
)
def test_urls_are_shown_without_credentials(url: str, shown: str) -> None:
    assert redacted_url(url) == shown


def test_the_secrets_of_a_url_are_its_userinfo_and_long_query_values() -> None:
    found = url_secrets("http://user:pa55word@h/?api_key=s3cr3tkey&v=1#frag")
    assert {"pa55word", "user:pa55word", "s3cr3tkey"} <= set(found)
    assert "1" not in found, "a short query value would garble every message it is scrubbed from"
    assert url_secrets("http://h:5000/api") == []


def test_a_lineage_target_never_shows_its_api_key_or_url_credentials() -> None:
    target = LineageTarget("http", "http://u:pa55word@h:1/", "ns", api_key="k3y-s3cr3t")
    assert "k3y-s3cr3t" not in repr(target)
    assert target.label == "http://***@h:1/"
    assert {"k3y-s3cr3t", "pa55word"} <= set(target.secrets)
    assert LineageTarget("off", "", "ns").label == "off"


def test_the_endpoint_failure_warning_is_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    target = LineageTarget("http", "http://u:pa55word@h:1/", "ns", api_key="k3y-s3cr3t")
    failed = threading.Event()

    def send(_event: object) -> None:
        failed.set()
        # What a client library might say: the URL and headers it used.
        raise ConnectionError("POST http://u:pa55word@h:1/api failed; Authorization: k3y-s3cr3t")

    with caplog.at_level(logging.WARNING, logger="floe_scaffold.lineage"):
        dispatcher = Dispatcher(send, target.label, secrets=target.secrets)
        dispatcher.submit({"event": 1})
        assert dispatcher.flush(timeout=5.0)
    assert failed.is_set()
    (record,) = [r for r in caplog.records if r.name == "floe_scaffold.lineage"]
    message = record.getMessage()
    assert "http://***@h:1/" in message
    assert "pa55word" not in message
    assert "k3y-s3cr3t" not in message
    assert "ConnectionError" in message


def test_grpc_drops_credentials_in_its_endpoint_url(caplog: pytest.LogCaptureFixture) -> None:
    target = TracingTarget(True, "http://t0k3n-s3cr3t@127.0.0.1:4317", "grpc", 1.0)
    with caplog.at_level(logging.WARNING, logger="floe_scaffold.tracing"):
        exporter = _exporter(target)
    try:
        assert "t0k3n-s3cr3t" not in str(vars(exporter))
        assert "t0k3n-s3cr3t" not in caplog.text
        assert "carries credentials in its URL" in caplog.text
        assert "http://127.0.0.1:4317" in caplog.text
    finally:
        exporter.shutdown()
