"""Malformed answers from a lineage or OTLP endpoint never fail or hold a real run.

Each test runs the demo project once with its endpoints misbehaving below HTTP: random bytes for
an answer, a valid answer dripped one byte per second (a per-read timeout never fires), or the
connection reset while the request is still being sent. The lineage and the OTLP/HTTP endpoint
misbehave together (one run per mode), and gRPC gets random bytes for its handshake. The run must
succeed with every asset, print no traceback, and take at most a few seconds more than the same
run with both off. Each endpoint must have been reached (the receivers record every attempt), so
a test cannot pass by never exporting at all.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from floe_scaffold.project import init_project
from tests.observability.lineage_receiver import LineageReceiver
from tests.observability.otlp_receiver import OtlpReceiver
from tests.project.conftest import DEMO_ASSETS, floe_run

pytestmark = pytest.mark.slow

MODES = ["garbage", "slow_drip", "close"]
#: Seconds a misbehaving endpoint may add to a run: the README promises about 1-2 s, and a loaded
#: machine makes the same run vary by a third. A held run would take 44 s more (the lineage drip)
#: or 83 s (the OTLP drip), or 2 s per event or batch (a timeout paid each time).
SLACK = 6.0
SLACK_SHARE = 0.5
BOTH_OFF = {"OPENLINEAGE_DISABLED": "true", "OTEL_SDK_DISABLED": "true"}


@dataclass(frozen=True)
class Parsed:
    """The demo project after one full run with lineage and tracing off, and that run's time."""

    project: Path
    seconds: float


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> Parsed:
    """One run both parses the manifest (shared by this module's tests, each on a copy) and
    gives the baseline; its parse makes the baseline a little slow, so the bound a little loose."""
    dest = tmp_path_factory.mktemp("endpoints") / "shop"
    init_project(dest, git=False)
    started = time.monotonic()
    done = floe_run(dest, BOTH_OFF)
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    return Parsed(dest, seconds)


@pytest.fixture
def project(parsed: Parsed, tmp_path: Path) -> Iterator[Path]:
    copy = tmp_path / "shop"
    shutil.copytree(parsed.project, copy, ignore=shutil.ignore_patterns("*.duckdb", "lineage"))
    yield copy


@pytest.fixture
def baseline_seconds(parsed: Parsed) -> float:
    """Wall time of a full run with lineage and tracing both off."""
    return parsed.seconds


def _timed_run(project: Path, env: dict[str, str]) -> tuple[CompletedProcess[str], float]:
    started = time.monotonic()
    done = floe_run(project, env)
    return done, time.monotonic() - started


def _assert_run_unharmed(done: CompletedProcess[str], seconds: float, baseline: float) -> None:
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = done.stdout.split("run ")[-1]
    assert table.count("success") == len(DEMO_ASSETS), done.stdout[-3000:]
    assert "Traceback" not in done.stdout + done.stderr, done.stderr[-3000:]
    bound = max(SLACK, SLACK_SHARE * baseline)
    assert seconds - baseline < bound, f"the endpoint added {seconds - baseline:.1f} s"


@pytest.mark.requirement("FR-021")
@pytest.mark.requirement("FR-022")
@pytest.mark.requirement("SC-006")
@pytest.mark.parametrize("mode", MODES)
def test_malformed_lineage_and_otlp_endpoints_never_fail_or_hold_the_run(
    project: Path,
    lineage_receiver: LineageReceiver,
    otlp_receiver: OtlpReceiver,
    baseline_seconds: float,
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
    done, seconds = _timed_run(project, env)
    _assert_run_unharmed(done, seconds, baseline_seconds)

    # Lineage: reached once; a failure opens the breaker with one warning naming the endpoint.
    assert lineage_receiver.hits, "the run never reached the lineage endpoint"
    assert lineage_receiver.events == []
    assert len(lineage_receiver.hits) == 1, lineage_receiver.hits
    warnings = [line for line in done.stderr.splitlines() if "OpenLineage endpoint" in line]
    if mode == "slow_drip":
        # The first event is still dripping when the run ends: nothing failed, nothing to say.
        assert warnings == [], warnings
    else:
        assert len(warnings) == 1, done.stderr[-3000:]
        assert lineage_receiver.url.split("//")[1] in warnings[0]

    # OTLP: reached, every attempt answered the malformed way, no span accepted.
    requests = otlp_receiver.requests
    assert requests, "the run never reached the OTLP endpoint"
    assert {request.status for request in requests} == {mode}
    assert otlp_receiver.spans == []


@pytest.mark.requirement("FR-022")
@pytest.mark.requirement("SC-006")
def test_garbage_on_a_grpc_otlp_endpoint_never_fails_or_holds_the_run(
    project: Path, garbage_url: str, baseline_seconds: float
) -> None:
    """gRPC's HTTP/2 connection preface answered with random bytes."""
    env = {
        "OPENLINEAGE_DISABLED": "true",
        "OTEL_EXPORTER_OTLP_ENDPOINT": garbage_url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
    }
    done, seconds = _timed_run(project, env)
    _assert_run_unharmed(done, seconds, baseline_seconds)
    assert garbage_url.split("//")[1] in done.stderr, "the exporter reached the endpoint"
