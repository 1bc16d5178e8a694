"""A run's results: growth statements printed, charts and the JSON record written.

Shared by bench/run.py (after measuring) and bench/report.py (from a JSON record again).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from bench._scale_report import charts, growths, ratio_trends, targets
from bench._timing import Figure

RESULTS = Path(__file__).resolve().parent / "results"


def print_growth(figures: Sequence[Figure]) -> None:
    """The growth statement of every scale series, the ratios along each, and the targets."""
    lines = [fit.statement() for fit in growths(figures)] + ratio_trends(figures)
    if lines:
        print("growth with the model count (medians):")
        for line in lines:
            print(f"  {line}")
    checked = targets(figures)
    if checked:
        print("issue 15's load targets (medians, ratios from alternating runs):")
        for line in checked:
            print(f"  {line}")


def write(stem: str, record: Mapping[str, object], figures: Sequence[Figure]) -> list[Path]:
    """``<stem>.json`` (``record`` with the figures and growth fits) and the charts."""
    RESULTS.mkdir(exist_ok=True)
    written = []
    subtitle = f"{record['date']}, {'quick' if record.get('quick') else 'full run'}"
    for chart, svg in charts(figures, subtitle).items():
        path = RESULTS / f"{stem}_{chart}.svg"
        path.write_text(svg, encoding="utf-8")
        written.append(path)
    full = {
        **record,
        "figures": [figure.as_dict() for figure in figures],
        "growth": [fit.as_dict() for fit in growths(figures)],
    }
    path = RESULTS / f"{stem}.json"
    path.write_text(json.dumps(full, indent=2) + "\n", encoding="utf-8")
    written.append(path)
    print(f"\nwritten: {', '.join(os.path.relpath(p) for p in written)}")
    return written


def figures_of(record: Mapping[str, object]) -> list[Figure]:
    """The figures of a JSON record written by :func:`write`."""
    found = record.get("figures")
    if not isinstance(found, list):
        return []
    return [Figure(**{**item, "samples": tuple(item.get("samples", ()))}) for item in found]
