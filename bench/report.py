"""Print a results JSON again (table, growth) and redraw its charts, without measuring.

Usage: ``python -m bench.report [bench/results/latest.json]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench._results import RESULTS, figures_of, print_growth, write
from bench._table import table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("record", nargs="?", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)
    record = json.loads(args.record.read_text(encoding="utf-8"))
    figures = figures_of(record)
    print(f"{record['date']} on {record['machine']}\n")
    print(table(figures) + "\n")
    print_growth(figures)
    write(args.record.stem, record, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
