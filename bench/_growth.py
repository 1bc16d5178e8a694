"""How a measured quantity grows with the model count: marginal costs and a growth exponent.

* the marginal cost per 1,000 models between consecutive sizes says what each step adds (with a
  fixed start-up cost, a single line fit would hide a cost that grows faster than linearly);
* the exponent ``k`` of ``y - y(smallest) ~ (models - smallest)^k`` between the two largest
  sizes says whether the part above the smallest size's cost grows linearly (k near 1) or
  faster; it needs three sizes or more.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise


@dataclass(frozen=True)
class Growth:
    """The growth of one series (medians by model count) in its unit."""

    series: str
    unit: str
    models: tuple[int, ...]
    medians: tuple[float, ...]
    per_1000_models: tuple[float, ...]  # between consecutive sizes
    exponent: float | None

    def as_dict(self) -> dict[str, object]:
        return asdict(self) | {"statement": self.statement()}

    def statement(self) -> str:
        unit, models = self.unit, self.models
        steps = ", ".join(
            f"{_amount(cost, unit)} ({low:,}-{high:,})"
            for cost, low, high in zip(self.per_1000_models, models, models[1:], strict=False)
        )
        text = (
            f"{self.series}: {_amount(self.medians[0], unit)} at {models[0]:,} models, "
            f"{_amount(self.medians[-1], unit)} at {models[-1]:,}; per 1,000 more models "
            f"+{steps}"
        )
        if self.exponent is not None:
            text += (
                f"; above the {models[0]:,}-model cost it grows as models^{self.exponent:.2f} "
                f"({_kind(self.exponent)}) from {models[-2]:,} to {models[-1]:,}"
            )
        return text


def _amount(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value:.2f} s" if abs(value) >= 0.1 else f"{value * 1000:.0f} ms"
    return f"{value:,.0f} {unit}"


def _kind(exponent: float) -> str:
    if exponent < 0.85:
        return "sublinear"
    if exponent <= 1.15:
        return "linear"
    if exponent <= 1.6:
        return "superlinear"
    return "close to quadratic"


def growth(series: str, unit: str, points: Sequence[tuple[int, float]]) -> Growth | None:
    """The growth of ``points`` (model count, median), or None with fewer than two sizes."""
    ordered = sorted(points)
    if len(ordered) < 2:
        return None
    slopes = tuple((y2 - y1) / (x2 - x1) * 1000 for (x1, y1), (x2, y2) in pairwise(ordered))
    exponent = None
    if len(ordered) >= 3:
        (x0, y0), (x1, y1), (x2, y2) = ordered[0], ordered[-2], ordered[-1]
        if y1 > y0 and y2 > y0:
            exponent = math.log((y2 - y0) / (y1 - y0)) / math.log((x2 - x0) / (x1 - x0))
    return Growth(
        series,
        unit,
        tuple(x for x, _ in ordered),
        tuple(y for _, y in ordered),
        slopes,
        exponent,
    )
