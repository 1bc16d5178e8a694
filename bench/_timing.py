"""Timing helpers: warm-up, repeated and alternated runs, medians with their spread."""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Figure:
    """One measured quantity: median and range over ``runs`` runs, in ``unit`` (s or MiB).

    ``series`` and ``models`` place a figure on a scale series (for the growth fits and the
    plot); ``samples`` are the raw values, kept for the JSON record.
    """

    name: str
    median: float
    low: float
    high: float
    runs: int
    baseline: str | None = None
    ratio: float | None = None
    unit: str = "s"
    series: str | None = None
    models: int | None = None
    samples: tuple[float, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def figure(name: str, samples: Sequence[float], *, unit: str = "s") -> Figure:
    """The median and range of ``samples``."""
    return Figure(
        name,
        statistics.median(samples),
        min(samples),
        max(samples),
        len(samples),
        unit=unit,
        samples=tuple(samples),
    )


def measure(name: str, action: Callable[[], object], *, runs: int, warmup: int = 1) -> Figure:
    """Time ``action`` ``runs`` times after ``warmup`` untimed calls."""
    for _ in range(warmup):
        action()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return figure(name, samples)


def alternate(
    actions: Mapping[str, Callable[[], T]], *, runs: int, warmup: int = 1
) -> dict[str, list[tuple[float, T]]]:
    """Run the actions in turn (A, B, …, A, B, …) so drift hits all alike.

    Each action is called ``warmup`` times untimed first (imports, OS caches), then ``runs``
    times timed; the result is, per action, its (seconds, return value) pairs.
    """
    for _ in range(warmup):
        for action in actions.values():
            action()
    samples: dict[str, list[tuple[float, T]]] = {name: [] for name in actions}
    for _ in range(runs):
        for name, action in actions.items():
            start = time.perf_counter()
            value = action()
            samples[name].append((time.perf_counter() - start, value))
    return samples


def seconds(samples: Sequence[tuple[float, object]]) -> list[float]:
    """The timings of :func:`alternate` pairs."""
    return [elapsed for elapsed, _ in samples]


def run_command(argv: Sequence[str], *, cwd: Path | None = None) -> None:
    """Run a command to completion, failing loudly if it fails."""
    subprocess.run(list(argv), check=True, cwd=cwd, capture_output=True, timeout=600)


def with_ratio(figure: Figure, baseline: Figure) -> Figure:
    """``figure`` with its ratio to ``baseline`` (both measured in the same run)."""
    return replace(figure, baseline=baseline.name, ratio=figure.median / baseline.median)
