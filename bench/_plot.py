"""A small SVG line chart: a quantity against the model count (log x axis), one line a series.

No plotting library: the chart is a few lines, points with min-max bars, axes, ticks, labels
and a legend, written as SVG text.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from html import escape

WIDTH, HEIGHT = 720, 440
LEFT, RIGHT, TOP, BOTTOM = 80, 30, 50, 70
COLOURS = ("#1f6fb4", "#e07b00", "#2a9d3a", "#b3262b")


@dataclass(frozen=True)
class Point:
    """One size of a series: its median and range."""

    models: int
    median: float
    low: float
    high: float


@dataclass(frozen=True)
class Line:
    """One series: its label and points."""

    label: str
    points: Sequence[Point]


def _nice_top(value: float) -> tuple[float, float]:
    """An axis top above ``value`` and a tick step, both round numbers."""
    raw = value / 5 if value > 0 else 1.0
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return step * math.ceil(value / step) if value > 0 else step, step


def _tick(value: float) -> str:
    return f"{value:g}" if value < 1000 else f"{value:,.0f}"


def line_chart(title: str, x_label: str, y_label: str, lines: Sequence[Line]) -> str:
    """The SVG text of ``lines`` against the model count on a log axis."""
    models = [p.models for line in lines for p in line.points]
    x_low = 10 ** math.floor(math.log10(min(models)))
    x_high = 10 ** math.ceil(math.log10(max(models)))
    if x_high == x_low:
        x_high *= 10
    y_top, y_step = _nice_top(max(p.high for line in lines for p in line.points))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(value: float) -> float:
        share = math.log10(value / x_low) / math.log10(x_high / x_low)
        return LEFT + plot_w * share

    def y(value: float) -> float:
        return TOP + plot_h * (1 - value / y_top)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="24" text-anchor="middle" font-size="14">{escape(title)}</text>',
    ]
    decade = x_low
    while decade <= x_high:
        out.append(_grid(x(decade), TOP, x(decade), TOP + plot_h))
        out.append(
            f'<text x="{x(decade):.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">'
            f"{_tick(decade)}</text>"
        )
        decade *= 10
    steps = round(y_top / y_step)
    for index in range(steps + 1):
        value = index * y_step
        out.append(_grid(LEFT, y(value), LEFT + plot_w, y(value)))
        out.append(
            f'<text x="{LEFT - 8}" y="{y(value) + 4:.1f}" text-anchor="end">{_tick(value)}</text>'
        )
    out.append(
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333"/>'
    )
    out.append(
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 22}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
    )
    out.append(
        f'<text transform="translate(22 {TOP + plot_h / 2}) rotate(-90)" '
        f'text-anchor="middle">{escape(y_label)}</text>'
    )
    for index, line in enumerate(lines):
        shift = (index - (len(lines) - 1) / 2) * 4  # side by side, so no bar hides another
        out += _series(line, COLOURS[index % len(COLOURS)], partial(_shifted, x, shift), y)
        out += _legend(line.label, COLOURS[index % len(COLOURS)], index)
    out.append(
        f'<text x="{LEFT + 12}" y="{TOP + 18 * len(lines) + 18}" fill="#555">'
        "dots: medians; bars: min-max of the runs</text>"
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _shifted(scale: Callable[[float], float], shift: float, value: float) -> float:
    return scale(value) + shift


def _grid(x1: float, y1: float, x2: float, y2: float) -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#ddd"/>'


def _series(
    line: Line, colour: str, x: Callable[[float], float], y: Callable[[float], float]
) -> list[str]:
    points = sorted(line.points, key=lambda p: p.models)
    path = " ".join(f"{x(p.models):.1f},{y(p.median):.1f}" for p in points)
    out = [f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>']
    for p in points:
        out.append(
            f'<line x1="{x(p.models):.1f}" y1="{y(p.low):.1f}" x2="{x(p.models):.1f}" '
            f'y2="{y(p.high):.1f}" stroke="{colour}"/>'
        )
        out.append(
            f'<circle cx="{x(p.models):.1f}" cy="{y(p.median):.1f}" r="3.5" fill="{colour}">'
            f"<title>{escape(line.label)}: {p.models:,} models, median {p.median:.3g}"
            "</title></circle>"
        )
    return out


def _legend(label: str, colour: str, index: int) -> list[str]:
    top = TOP + 14 + 18 * index
    return [
        f'<line x1="{LEFT + 12}" y1="{top}" x2="{LEFT + 36}" y2="{top}" stroke="{colour}" '
        'stroke-width="2"/>',
        f'<text x="{LEFT + 42}" y="{top + 4}">{escape(label)}</text>',
    ]
