"""Run every benchmark and print a table; results also go to bench/results/latest.json.

Usage: ``python -m bench.run [--quick]`` from the repository root.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from bench import lineage, profiles, project, tracing
from bench._timing import Figure

RESULTS = Path(__file__).resolve().parent / "results"
SUITES = {
    "profiles": profiles.run,
    "project": project.run,
    "lineage": lineage.run,
    "tracing": tracing.run,
}


def _table(figures: list[Figure]) -> str:
    rows = [f"{'figure':<46} {'median':>10} {'min-max':>21} {'runs':>4}  ratio"]
    # seconds or milliseconds, whichever reads better for the figure
    for figure in figures:
        ratio = f"{figure.ratio:.2f}x {figure.baseline}" if figure.ratio is not None else ""
        if figure.high < 0.001:
            scale, unit = 1_000_000, "us"
        elif figure.high < 1:
            scale, unit = 1000, "ms"
        else:
            scale, unit = 1, "s"
        spread = f"{figure.low * scale:.1f}-{figure.high * scale:.1f} {unit}"
        rows.append(
            f"{figure.name:<46} {figure.median * scale:>7.1f} {unit:<2} {spread:>21} "
            f"{figure.runs:>4}  {ratio}"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs, for routine checks")
    parser.add_argument("--only", choices=sorted(SUITES), action="append")
    args = parser.parse_args(argv)
    figures: list[Figure] = []
    for name in args.only or list(SUITES):
        measured = SUITES[name](quick=args.quick)
        print(_table(measured), flush=True)  # each suite as soon as it is measured
        figures.extend(measured)
    RESULTS.mkdir(exist_ok=True)
    record = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": f"{platform.system()} {platform.machine()}, {platform.python_version()}",
        "quick": args.quick,
        "figures": [figure.as_dict() for figure in figures],
    }
    (RESULTS / "latest.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
