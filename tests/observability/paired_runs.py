"""A run and its baseline, side by side: two ``floe run`` processes started together.

On a shared 2-core machine the same 10 s run takes 10 s or 20 s depending on what else runs, so
a baseline measured minutes earlier says little. Started together, the two runs share whatever
load there is, and the difference of their wall times is what the settings under test added.
:func:`added_bound` is the tolerance the tests allow: the product's own bound plus a share of the
baseline for the noise that remains. Measured on 2 shared cores at load 5-8 (runs of 31-62 s),
pairs differed by -7.2 to +6.4 s, about a sixth of a run at most; half a run (at least 4 s) is
allowed. That still catches a held run: a dripping endpoint held per process would add 44 s
(lineage) or 80 s (OTLP) to a 10 s run. Finer claims (an export retried, a timeout paid per
batch) are for attempt counts at the receivers, and precise timings for ``bench``.
"""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from subprocess import CompletedProcess

from tests.project.conftest import floe_run

__all__ = ["BOTH_OFF", "Paired", "added_bound", "copy_project", "run_alongside"]

#: Lineage and tracing both off: the baseline's settings.
BOTH_OFF = {"OPENLINEAGE_DISABLED": "true", "OTEL_SDK_DISABLED": "true"}
#: Noise allowed on top of the product's bound, as a share of the baseline run ...
NOISE_SHARE = 0.5
#: ... and at least this many seconds.
NOISE_SECONDS = 4.0


@dataclass(frozen=True)
class Paired:
    """The run under test and its baseline, with their wall times in seconds."""

    done: CompletedProcess[str]
    seconds: float
    baseline: CompletedProcess[str]
    baseline_seconds: float

    @property
    def added(self) -> float:
        """Seconds the run under test took more than its baseline."""
        return self.seconds - self.baseline_seconds


def copy_project(source: Path, dest: Path) -> Path:
    """A copy of a parsed project without its warehouse or lineage file (a fresh run each)."""
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("*.duckdb", "lineage"))
    return dest


def _timed(project: Path, env: dict[str, str], *args: str) -> tuple[CompletedProcess[str], float]:
    started = time.monotonic()
    done = floe_run(project, env, *args)
    return done, time.monotonic() - started


def run_alongside(
    project: Path,
    env: dict[str, str],
    baseline_project: Path,
    baseline_env: dict[str, str],
    *args: str,
) -> Paired:
    """``floe run *args`` in ``project`` with ``env`` and, started at once, in
    ``baseline_project``."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="paired-run") as pool:
        under_test = pool.submit(_timed, project, env, *args)
        baseline = pool.submit(_timed, baseline_project, baseline_env, *args)
        done, seconds = under_test.result()
        base_done, base_seconds = baseline.result()
    return Paired(done, seconds, base_done, base_seconds)


def added_bound(product_seconds: float, baseline_seconds: float) -> float:
    """Seconds a run may add to its side-by-side baseline: ``product_seconds`` (what the product
    promises to cost at most) plus the noise allowance above."""
    return product_seconds + max(NOISE_SECONDS, NOISE_SHARE * baseline_seconds)
