"""What the scale series say: how each grows with the model count, and the charts.

Figures that carry a ``series`` and a model count (bench/scale.py makes them) are grouped by
series; "<quantity>, <side>" series of one quantity share a chart.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench._growth import Growth, growth
from bench._plot import Line, Point, line_chart
from bench._timing import Figure

#: chart file stem and y-axis label of each plotted quantity
CHARTS = {
    "load time": ("load_time", "definitions load time, median (s)"),
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
