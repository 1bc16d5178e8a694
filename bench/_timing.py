"""Timing helpers: warm-up, repeated runs, medians with their spread."""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Figure:
    """One measured quantity: median and range over ``runs`` timed runs, in seconds."""

    name: str
    median: float
    low: float
    high: float
    runs: int
    baseline: str | None = None
    ratio: float | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def measure(name: str, action: Callable[[], object], *, runs: int, warmup: int = 1) -> Figure:
    """Time ``action`` ``runs`` times after ``warmup`` untimed calls."""
    for _ in range(warmup):
        action()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return Figure(name, statistics.median(samples), min(samples), max(samples), runs)


def run_command(argv: Sequence[str], *, cwd: Path | None = None) -> None:
    """Run a command to completion, failing loudly if it fails."""
    subprocess.run(list(argv), check=True, cwd=cwd, capture_output=True, timeout=600)


def with_ratio(figure: Figure, baseline: Figure) -> Figure:
    """``figure`` with its ratio to ``baseline`` (both measured in the same run)."""
    return Figure(
        figure.name,
        figure.median,
        figure.low,
        figure.high,
        figure.runs,
        baseline.name,
        figure.median / baseline.median,
    )
