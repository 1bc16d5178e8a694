"""Run every benchmark and print a table; results also go to JSON and SVG under bench/results/.

Usage: ``python -m bench.run [--quick] [--only SUITE ...]`` from the repository root.

Every figure is a median with its min-max over its runs, taken after a warm-up; a figure with a
baseline was measured in the same run, alternating with it. A full run takes 5 timed runs or
more per figure and the scale series at 10 / 500 / 5,000 / 20,000 models (about half an hour on
2 cores); ``--quick`` (under 3 minutes) takes fewer runs, the scale series at 10 and 500 models
only, and the lineage and tracing runs with the endpoint on and off only. The ``runs`` suite
(bench/runs.py: runs of a real 100- and 1,000-model dbt project, ``floe run`` and its ablations
against ``dbt build``) adds well over an hour to a full run (at 1,000 models one ``dbt build``
takes about 2 minutes, and 8 variants run 3 times each) and a few minutes to ``--quick``.

Written: ``<stem>.json`` (every figure with its samples, the growth fits, date and machine),
``<stem>_load_time.svg`` and ``<stem>_peak_memory.svg``, where the stem is
``latest`` for a full run of every suite, ``quick`` for ``--quick``, and names the suites for
``--only``. ``python -m bench.report [JSON]`` prints a record again and redraws its charts.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

from bench import (
    instance,
    lineage,
    metadata,
    metrics,
    profiles,
    project,
    runs,
    scale,
    tracing,
    update,
)
from bench._machine import machine
from bench._results import print_growth, write
from bench._table import table
from bench._timing import Figure

#: suite name → its run(quick=...) returning its figures; run in this order
SUITES: dict[str, Callable[..., list[Figure]]] = {
    "profiles": profiles.run,
    "project": project.run,
    "instance": instance.run,
    "metadata": metadata.run,
    "scale": scale.run,
    "lineage": lineage.run,
    "tracing": tracing.run,
    "metrics": metrics.run,
    "update": update.run,
    "runs": runs.run,
}


def _stem(quick: bool, only: list[str] | None) -> str:
    stem = "quick" if quick else "latest"
    return stem if not only else f"{stem}-{'-'.join(only)}"


def _load() -> str:
    """The 1/5/15-minute load averages: other work on the machine skews absolute figures."""
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer runs and sizes, < 3 minutes")
    parser.add_argument("--only", choices=sorted(SUITES), action="append")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    date, where = time.strftime("%Y-%m-%d %H:%M %Z"), machine()
    mode = "--quick: fewer runs, small scale sizes only" if args.quick else "full run"
    print(f"{date} on {where}\n{mode}; load average at start {_load()}\n", flush=True)
    figures: list[Figure] = []
    failed: dict[str, str] = {}
    for name in args.only or list(SUITES):
        try:
            measured = SUITES[name](quick=args.quick)
        except Exception as error:  # noqa: BLE001 - one broken suite must not lose the others
            failed[name] = str(error)
            print(f"suite {name} FAILED:\n{error}\n", flush=True)
            continue
        print(table(measured) + "\n", flush=True)  # each suite as soon as it is measured
        figures.extend(measured)
    print_growth(figures)
    record = {
        "date": date,
        "machine": where,
        "quick": args.quick,
        "suites": args.only or list(SUITES),
        "seconds": round(time.perf_counter() - started, 1),
        "load_average_at_end": _load(),
        "failed": failed,
    }
    write(_stem(args.quick, args.only), record, figures)
    print(f"whole run: {record['seconds']} s; load average at the end {_load()}")
    if failed:
        print(f"FAILED suites: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
