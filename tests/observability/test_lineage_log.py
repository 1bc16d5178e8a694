"""The local lineage log: whole lines only (issue 18, finding 6), rotation, a tolerant reader."""

from __future__ import annotations

import json
import multiprocessing
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openlineage.client.event_v2 import RunState

from floe_scaffold._cli import main
from floe_scaffold.lineage import LineageTarget
from floe_scaffold.lineage._events import run_event, utc
from floe_scaffold.lineage._log import KEEP, MAX_BYTES, EventLog, LogReader, log_files
from floe_scaffold.lineage._transport import dispatcher_for
from floe_scaffold.lineage._view._model import build_graph
from tests.helpers import docs_page
from tests.manifests import synthetic_manifest
from tests.observability.lineage_runs import record_run

TORN = '{"eventTime": "2026-01-01T00:00:00Z", "producer": "https'  # a full disk cut it here


def _event(number: int) -> str:
    return json.dumps(
        {
            "eventType": "START",
            "eventTime": "2026-01-01T00:00:00Z",
            "run": {"runId": f"00000000-0000-4000-8000-{number:012d}"},
            "job": {"namespace": "t", "name": f"job{number}"},
            "producer": "https://example.com",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "pad": "x" * (number % 7) * 30,
        },
        sort_keys=True,
    )


def test_a_run_after_a_torn_line_starts_on_a_fresh_line(tmp_path: Path) -> None:
    """Issue 18 finding 6: the next run's events never extend a torn last line."""
    log = tmp_path / ".floe" / "lineage" / "events.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text(_event(1) + "\n" + TORN, encoding="utf-8")  # no newline: torn
    manifest = synthetic_manifest(10)
    record_run(manifest, log, fail="stg_domain0__1")
    lines = log.read_text(encoding="utf-8").split("\n")
    assert lines[1] == TORN, "the torn line is left as it was, and ended"
    assert lines[-1] == "", "the log ends with a newline"
    parsed = [json.loads(line) for line in lines[2:-1]]  # every line after it is an event
    models = [n for n in manifest["nodes"].values() if n["resource_type"] in {"model", "seed"}]
    assert len(parsed) == 2 * len(models) + 2  # + the invocation's START and FAIL
    reader = LogReader(log)
    assert [e["job"]["name"] for e in reader.events()][1:] == [e["job"]["name"] for e in parsed]
    assert reader.skipped == 1
    assert reader.read == len(parsed) + 1


def test_the_transport_writes_each_event_as_one_line(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    log.write_bytes(b"{not json")
    dispatcher = dispatcher_for(LineageTarget("file", str(log), "t"))
    for number in range(3):
        run_id = f"00000000-0000-4000-8000-{number:012d}"
        dispatcher.submit(
            run_event(
                RunState.START,
                run_id=run_id,
                namespace="t",
                job_name=f"job{number}",
                event_time=utc(),
            )
        )
    assert dispatcher.flush(10)
    lines = log.read_bytes().split(b"\n")
    assert lines[0] == b"{not json"
    assert [json.loads(line)["job"]["name"] for line in lines[1:-1]] == ["job0", "job1", "job2"]


def test_the_log_rotates_at_its_size_and_keeps_a_bounded_number_of_files(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    writer = EventLog(log, max_bytes=2000, keep=3)
    for number in range(60):
        writer.append(_event(number))
    files = log_files(log, keep=3)
    assert [f.name for f in files] == [
        "events.jsonl.3",
        "events.jsonl.2",
        "events.jsonl.1",
        "events.jsonl",
    ]
    assert all(f.stat().st_size <= 2000 for f in files)
    names = [e["job"]["name"] for e in LogReader(log, keep=3).events()]
    last = int(names[-1].removeprefix("job"))
    first = int(names[0].removeprefix("job"))
    assert last == 59
    assert names == [f"job{n}" for n in range(first, 60)], "oldest first, in order, no gap"
    assert first > 0, "the oldest file was dropped"


def test_the_default_bounds_are_documented() -> None:
    """The README's figures are the code's defaults (read from the README, compared with them)."""
    readme = docs_page("explanation/lineage.md")
    size = re.search(r"At \*\*(\d+) MiB\*\* the file is rotated", readme)
    kept = re.search(r"\*\*(\d+) rotated files\*\* are kept", readme)
    assert size is not None and kept is not None, "README states the log's bounds"
    assert int(size.group(1)) * 1024 * 1024 == MAX_BYTES
    assert int(kept.group(1)) == KEEP
    log = EventLog(Path("unused.jsonl"))  # a log opened with the defaults uses those bounds
    assert (log.max_bytes, log.keep) == (MAX_BYTES, KEEP)


def _write_many(path: str, start: int) -> None:
    writer = EventLog(Path(path), max_bytes=40_000, keep=50)
    for number in range(start, start + 150):
        writer.append(_event(number))


def test_writers_in_several_processes_never_mix_lines(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_write_many, args=(str(log), k * 1000)) for k in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert all(worker.exitcode == 0 for worker in workers)
    reader = LogReader(log, keep=50)
    names = sorted(e["job"]["name"] for e in reader.events())
    expected = sorted(f"job{k * 1000 + n}" for k in range(3) for n in range(150))
    assert names == expected
    assert reader.skipped == 0


junk = st.binary(max_size=60).filter(lambda b: b"\n" not in b and not b.strip().endswith(b"}"))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.integers(0, 99), junk), max_size=25), junk)
def test_the_reader_yields_exactly_the_whole_events(
    tmp_path_factory: pytest.TempPathFactory, items: list[int | bytes], tail: bytes
) -> None:
    """Whatever torn lines sit between them, the reader yields the events and counts the rest."""
    log = tmp_path_factory.mktemp("log") / "events.jsonl"
    writer = EventLog(log)
    for item in items:
        if isinstance(item, int):
            writer.append(_event(item))
        else:
            with log.open("ab") as handle:
                handle.write(item)  # a torn write: no newline
    with log.open("ab") as handle:
        handle.write(tail)
    reader = LogReader(log)
    assert [e["job"]["name"] for e in reader.events()] == [
        f"job{item}" for item in items if isinstance(item, int)
    ]
    # The torn writes between two events make one line (the writer starts each event on a line
    # of its own); the last ones and the tail, a partial last line. Each line with any content
    # is skipped and counted once.
    lines: list[bytes] = [b""]
    for item in [*items, tail]:
        if isinstance(item, int):
            lines.append(b"")
        else:
            lines[-1] += item
    assert reader.skipped == sum(1 for line in lines if line.strip())


def test_floe_lineage_without_a_log_names_where_it_looked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lineage", "--project-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"no lineage log at {tmp_path / '.floe/lineage/events.jsonl'}" in err
    assert "Traceback" not in err


def test_the_page_goes_to_out_counts_torn_lines_and_keeps_names_inert(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / ".floe" / "lineage" / "events.jsonl"
    hostile = "</script><script>alert(1)</script>\u2028&amp;"
    EventLog(log).append(
        json.dumps(
            {
                "eventType": "START",
                "eventTime": "2026-01-01T00:00:00Z",
                "run": {"runId": "00000000-0000-4000-8000-000000000001"},
                "job": {"namespace": "t", "name": hostile},
                "inputs": [{"namespace": "t", "name": f"in{hostile}"}],
                "outputs": [],
            }
        )
    )
    with log.open("ab") as handle:
        handle.write(b'{"eventType": "COMPLETE", "run": {"runId"')  # a run still writing
    out = tmp_path / "page" / "lineage.html"
    assert main(["lineage", "--project-dir", str(tmp_path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert str(out) in printed
    assert "2 nodes, 1 edges, 0 run(s) from 1 events, 1 unreadable line(s) skipped" in printed
    page = out.read_text(encoding="utf-8")
    assert page.count("</script>") == 2, "only the page's own two script elements close"
    assert "<script>alert" not in page
    assert "\u2028" not in page


def test_a_line_over_the_size_limit_is_skipped_without_reading_it_whole(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    writer = EventLog(log)
    writer.append(_event(1))
    with log.open("ab") as handle:
        handle.write(b'{"eventType": "START", "x": "' + b"y" * 5000 + b'"}\n')
    writer.append(_event(2))
    reader = LogReader(log, max_line=1000)
    assert [e["job"]["name"] for e in reader.events()] == ["job1", "job2"]
    assert reader.skipped == 1


def test_a_node_whose_dbt_run_ended_without_its_result_is_unfinished_not_running() -> None:
    parent = {"run": {"runId": "p"}, "job": {"namespace": "n", "name": "dbt-run-x"}}
    node = {"parent": {"run": {"runId": "p"}, "job": {"namespace": "n", "name": "dbt-run-x"}}}
    events = [
        {"eventType": "START", "eventTime": "2026-01-01T00:00:00Z", **parent},
        {
            "eventType": "START",
            "eventTime": "2026-01-01T00:00:01Z",
            "run": {"runId": "a", "facets": node},
            "job": {"namespace": "n", "name": "a"},
        },
        {
            "eventType": "START",
            "eventTime": "2026-01-01T00:00:01Z",
            "run": {"runId": "b", "facets": node},
            "job": {"namespace": "n", "name": "b"},
        },
        {
            "eventType": "COMPLETE",
            "eventTime": "2026-01-01T00:00:02Z",
            "run": {"runId": "b"},
            "job": {"namespace": "n", "name": "b"},
        },
    ]
    assert build_graph(events).runs["a"].state == "running"
    events.append({"eventType": "FAIL", "eventTime": "2026-01-01T00:00:03Z", **parent})
    graph = build_graph(events)
    assert graph.runs["a"].state == "unfinished"
    assert graph.runs["b"].state == "complete"
    assert graph.runs["b"].seconds == 1.0
