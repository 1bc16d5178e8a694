"""Malformed answers from a lineage or OTLP endpoint never fail or hold a real run.

Each test runs the demo project once with its endpoints misbehaving below HTTP: random bytes for
an answer, a valid answer dripped one byte per second (a per-read timeout never fires), or the
connection reset while the request is still being sent. The lineage and the OTLP/HTTP endpoint
misbehave together (one run per mode), and gRPC gets random bytes for its handshake. The run must
succeed with every asset and print no traceback.

That nothing holds the run is proven by structure, counted at the receivers, which record every
attempt: the lineage endpoint sees exactly one request per process (the breaker opens at the
first failure, or when a send outlives its timeout), the OTLP endpoint at most one export of two
requests (the exporter's immediate reconnect; no retry with backoff, then the breaker), and each
endpoint is named in exactly one warning. So a test cannot pass by never exporting at all, nor
by paying a timeout per event or batch. Time is checked too, but only against a baseline run
(both off) started at the same moment, with the product's bound plus a noise allowance
(:mod:`tests.observability.paired_runs`): a held run would add 44 s (the lineage drip) or 80 s
(the OTLP drip), far outside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from floe_scaffold.lineage._dispatch import FLUSH_SECONDS
from floe_scaffold.project import init_project
from floe_scaffold.tracing import SHUTDOWN_SECONDS
from tests.observability.lineage_receiver import LineageReceiver
from tests.observability.otlp_receiver import OtlpReceiver
from tests.observability.paired_runs import (
    BOTH_OFF,
    Paired,
    added_bound,
    copy_project,
    run_alongside,
)
from tests.project.conftest import DEMO_ASSETS, floe_run

pytestmark = pytest.mark.slow

MODES = ["garbage", "slow_drip", "close"]
#: What a misbehaving endpoint may cost a run by design: one lineage flush at the end of the dbt
#: step (none once the breaker is open) and one bounded wait for the exporter at exit.
PRODUCT_SECONDS = FLUSH_SECONDS + SHUTDOWN_SECONDS
#: Requests one process may send the OTLP endpoint: one export, with the exporter's immediate
#: reconnect after a connection error. A retry with backoff, or a second batch, would make more.
MAX_OTLP_REQUESTS = 2


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo project after one full run (its manifest parsed), copied by each test."""
    dest = tmp_path_factory.mktemp("endpoints") / "shop"
    init_project(dest, git=False)
    done = floe_run(dest, BOTH_OFF)
    assert done.returncode == 0, done.stdout + done.stderr
    return dest


@pytest.fixture
def projects(parsed: Path, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """Two fresh copies: one for the run under test, one for its baseline."""
    yield copy_project(parsed, tmp_path / "shop"), copy_project(parsed, tmp_path / "base")


def _tail(done: CompletedProcess[str]) -> str:
    return done.stdout[-3000:] + done.stderr[-3000:]


def _assert_run_unharmed(paired: Paired) -> None:
    for done in (paired.done, paired.baseline):
        assert done.returncode == 0, _tail(done)
        table = done.stdout.split("run ")[-1]
        assert table.count("success") == len(DEMO_ASSETS), _tail(done)
        assert "Traceback" not in done.stdout + done.stderr, _tail(done)
    bound = added_bound(PRODUCT_SECONDS, paired.baseline_seconds)
    assert paired.added <= bound, (
        f"the endpoint added {paired.added:.1f} s to a {paired.baseline_seconds:.1f} s run "
        f"started alongside (allowed {bound:.1f} s)"
    )


def _warnings(done: CompletedProcess[str], what: str) -> list[str]:
    return [line for line in done.stderr.splitlines() if f"{what} endpoint" in line]


@pytest.mark.requirement("FR-021")
@pytest.mark.requirement("FR-022")
@pytest.mark.requirement("SC-006")
@pytest.mark.parametrize("mode", MODES)
def test_malformed_lineage_and_otlp_endpoints_never_fail_or_hold_the_run(
    projects: tuple[Path, Path],
    lineage_receiver: LineageReceiver,
    otlp_receiver: OtlpReceiver,
    mode: str,
) -> None:
    """Both endpoints misbehave the same way in one run (one run per mode keeps this affordable;
    each endpoint's own evidence below says which one a failure concerns)."""
    lineage_receiver.mode = mode  # type: ignore[assignment]  # a ReceiverMode, from MODES
    otlp_receiver.mode = mode  # type: ignore[assignment]  # an OtlpReceiverMode, from MODES
    env = {
        "OPENLINEAGE_URL": lineage_receiver.url,
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.http_endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    }
    project, baseline = projects
    paired = run_alongside(project, env, baseline, BOTH_OFF)
    _assert_run_unharmed(paired)
    done = paired.done

    # Lineage: reached once; the failure (or the drip outliving the timeout) opens the breaker,
    # with one warning naming the endpoint.
    assert lineage_receiver.hits, "the run never reached the lineage endpoint"
    assert len(lineage_receiver.hits) == 1, lineage_receiver.hits
    assert lineage_receiver.events == []
    warnings = _warnings(done, "OpenLineage")
    assert len(warnings) == 1, done.stderr[-3000:]
    assert lineage_receiver.url.split("//")[1] in warnings[0]

    # OTLP: reached, every request answered the malformed way, no span accepted, one export.
    requests = otlp_receiver.requests
    assert requests, "the run never reached the OTLP endpoint"
    assert {request.status for request in requests} == {mode}
    assert len(requests) <= MAX_OTLP_REQUESTS, [(r.status, r.received_at) for r in requests]
    assert otlp_receiver.spans == []
    warnings = _warnings(done, "OTLP")
    assert len(warnings) == 1, done.stderr[-3000:]
    assert otlp_receiver.http_endpoint.split("//")[1] in warnings[0]
    if mode == "slow_drip":
        assert len(requests) == 1  # the one export still dripping
    else:
        assert "retrying in" not in done.stderr, "the exporter waited to retry"


@pytest.mark.requirement("FR-022")
@pytest.mark.requirement("SC-006")
def test_garbage_on_a_grpc_otlp_endpoint_never_fails_or_holds_the_run(
    projects: tuple[Path, Path], garbage_url: str
) -> None:
    """gRPC's HTTP/2 connection preface answered with random bytes."""
    env = {
        "OPENLINEAGE_DISABLED": "true",
        "OTEL_EXPORTER_OTLP_ENDPOINT": garbage_url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
    }
    project, baseline = projects
    paired = run_alongside(project, env, baseline, BOTH_OFF)
    _assert_run_unharmed(paired)
    stderr = paired.done.stderr
    assert garbage_url.split("//")[1] in stderr, "the exporter reached the endpoint"
    assert "retrying in" not in stderr, "the exporter waited to retry"
    assert len(_warnings(paired.done, "OTLP")) == 1, stderr[-3000:]
