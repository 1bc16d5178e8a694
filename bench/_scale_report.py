"""What the scale series say: how each grows with the model count, and the charts.

Figures that carry a ``series`` and a model count (bench/scale.py makes them) are grouped by
series; "<quantity>, <side>" series of one quantity share a chart.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from bench._growth import Growth, growth
from bench._plot import Line, Point, line_chart
from bench._timing import Figure

#: chart file stem and y-axis label of each plotted quantity
CHARTS = {
    "load time": ("load_time", "definitions load time, median (s)"),
    "load CPU time": ("load_cpu", "CPU seconds of the loading process, median (s)"),
    "peak memory": ("peak_memory", "peak RSS of the loading process, median (MiB)"),
}


def _series(figures: Sequence[Figure]) -> dict[str, list[Figure]]:
    found: dict[str, list[Figure]] = {}
    for figure in figures:
        if figure.series is not None and figure.models is not None:
            found.setdefault(figure.series, []).append(figure)
    return found


def growths(figures: Sequence[Figure]) -> list[Growth]:
    """The growth of every series with two sizes or more."""
    fitted = []
    for name, members in _series(figures).items():
        fit = growth(name, members[0].unit, [(f.models or 0, f.median) for f in members])
        if fit is not None:
            fitted.append(fit)
    return fitted


def ratio_trends(figures: Sequence[Figure]) -> list[str]:
    """Per series with a baseline: its ratio at each size, smallest first."""
    lines = []
    for name, members in _series(figures).items():
        rated = sorted((f for f in members if f.ratio is not None), key=lambda f: f.models or 0)
        if len(rated) >= 2:
            steps = ", ".join(f"{f.ratio or 0:.2f}x at {f.models or 0:,}" for f in rated)
            lines.append(f"{name} / its baseline: {steps} models")
    return lines


def _median(figures: Sequence[Figure], series: str, models: int) -> Figure | None:
    return next((f for f in figures if f.series == series and f.models == models), None)


def _verdict(holds: bool) -> str:
    return "holds" if holds else "MISSED"


def _ratio_targets(figures: Sequence[Figure]) -> list[str]:
    lines = []
    for models in sorted({f.models or 0 for f in figures if f.models}):
        warm = _median(figures, "load time, floe-scaffold warm", models)
        if models >= 5_000 and warm is not None and warm.ratio is not None:
            lines.append(
                f"warm load at {models:,} models: {warm.ratio:.2f}x plain dagster-dbt "
                f"(target <= 0.25x): {_verdict(warm.ratio <= 0.25)}"
            )
        floor = _median(figures, "load time, Dagster floor", models)
        if models >= 5_000 and floor is not None and floor.ratio is not None:
            lines.append(
                f"  the floor at {models:,} models (imports and Dagster's own work on the same "
                f"specs): {floor.median:.2f} s, {floor.ratio:.2f}x plain dagster-dbt"
            )
    cold = _median(figures, "load time, floe-scaffold cold", 20_000)
    if cold is not None and cold.ratio is not None:
        lines.append(
            f"cold load at 20,000 models: {cold.ratio:.2f}x plain dagster-dbt (target <= 0.5x): "
            f"{_verdict(cold.ratio <= 0.5)}"
        )
    for side in ("cold", "warm"):
        memory = _median(figures, f"peak memory, floe-scaffold {side}", 20_000)
        if memory is not None and memory.ratio is not None:
            lines.append(
                f"peak memory at 20,000 models, {side}: {memory.ratio:.2f}x plain dagster-dbt "
                f"(target <= 0.6x): {_verdict(memory.ratio <= 0.6)}"
            )
    return lines


def targets(figures: Sequence[Figure]) -> list[str]:
    """Issue 15's load targets, each with its measured value and whether it holds."""
    lines = []
    warm = _median(figures, "load time, floe-scaffold warm", 20_000)
    if warm is not None:
        lines.append(
            f"warm load at 20,000 models: {warm.median:.1f} s (target <= 20 s): "
            f"{_verdict(warm.median <= 20)}"
        )
    lines += _ratio_targets(figures)
    for name, members in _series(figures).items():
        if not name.startswith(("load time, floe-scaffold", "load CPU time, floe-scaffold")):
            continue
        points = sorted((f.models or 0, f.median) for f in members if (f.models or 0) >= 5_000)
        slopes = [(y2 - y1) / (x2 - x1) * 1000 for (x1, y1), (x2, y2) in pairwise(points)]
        if len(slopes) >= 2 and min(slopes) > 0:
            spread = max(slopes) / min(slopes) - 1
            steps = ", ".join(f"{slope:.2f} s" for slope in slopes)
            lines.append(
                f"{name}: per 1,000 models from {points[0][0]:,} to {points[-1][0]:,}: {steps}; "
                f"spread {spread:.0%} (target <= 20 %): {_verdict(spread <= 0.2)}"
            )
    return lines


def charts(figures: Sequence[Figure], subtitle: str) -> dict[str, str]:
    """SVG text by file stem, one chart per quantity that has a series of two sizes or more."""
    found = {}
    series = _series(figures)
    for quantity, (stem, y_label) in CHARTS.items():
        lines = [
            Line(
                name.split(", ", 1)[1],
                [Point(f.models or 0, f.median, f.low, f.high) for f in members],
            )
            for name, members in series.items()
            if name.startswith(f"{quantity}, ") and len(members) >= 2
        ]
        if lines:
            found[stem] = line_chart(
                f"{quantity.capitalize()} against model count ({subtitle})",
                "models in the dbt project (log scale)",
                y_label,
                lines,
            )
    return found
