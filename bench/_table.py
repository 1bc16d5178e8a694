"""The printed table: one row a figure, its median, min-max, runs and ratio to its baseline."""

from __future__ import annotations

from collections.abc import Sequence

from bench._timing import Figure

NAME_WIDTH = 48


def _scale(figure: Figure) -> tuple[float, str]:
    """Seconds as s, ms or us by the median's size, whichever reads better; other units as they are.

    A difference of two timings can be negative (noise larger than the cost): its size decides.
    """
    if figure.unit != "s":
        return 1, figure.unit
    size = abs(figure.median)
    if size < 0.001:
        return 1_000_000, "us"
    if size < 1:
        return 1000, "ms"
    return 1, "s"


def _number(value: float) -> str:
    """Three significant digits or so, without exponents (a negative one as its size, signed)."""
    size = abs(value)
    if size >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if size >= 10 else f"{value:.2f}"


def table(figures: Sequence[Figure]) -> str:
    """The figures as aligned text rows under a header."""
    rows = [f"{'figure':<{NAME_WIDTH}} {'median':>11} {'min-max':>19} {'runs':>4}  ratio"]
    for figure in figures:
        ratio = f"{figure.ratio:.2f}x {figure.baseline}" if figure.ratio is not None else ""
        scale, unit = _scale(figure)
        spread = f"{_number(figure.low * scale)}-{_number(figure.high * scale)} {unit}"
        rows.append(
            f"{figure.name:<{NAME_WIDTH}} {_number(figure.median * scale):>7} {unit:<3} "
            f"{spread:>19} {figure.runs:>4}  {ratio}"
        )
    return "\n".join(rows)
