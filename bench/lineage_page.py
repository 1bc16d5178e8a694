"""``floe lineage`` page: build time, page size and render time in Chromium by graph size.

Usage: ``python -m bench.lineage_page [--runs N]`` from the repository root (needs Debian's
``chromium``, which ``scripts/bootstrap`` installs).

Sizes: 205 and 2,050 models (about 500 and 5,000 nodes: a model is a job and a dataset, plus
sources), and 5,000 models (about 12,000 nodes). For each, one synthetic ``dbt run`` of every
model is recorded by floe's real recorder into a lineage log
(``tests/observability/lineage_runs.py``, one model failing); then, ``--runs`` times (default
3), the page is built (``build_lineage_page``: reading the log, igraph's layout,
writing the HTML) and opened offline in headless Chromium until the page says it is drawn.
Medians are printed with the min-max, and each size's figures as ratios of the smallest one's,
measured in the same run: the baseline. The size ratio should match the node ratio (linear).
Every model's COMPLETE carries column lineage, as a real run's does; the largest size is also
recorded without it (``no column lineage``), the page as it was before column lineage, so the
cost of the column view is a ratio measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from floe_scaffold.lineage._view import build_lineage_page
from tests.manifests import synthetic_manifest
from tests.observability.lineage_runs import record_run

SIZES = (205, 2050, 5000)


def _render(browser: Any, page: Path) -> tuple[float, float]:
    """Seconds until the page is drawn (wall, from navigation), and its own script's time."""
    context = browser.new_context(viewport={"width": 1400, "height": 860}, offline=True)
    tab = context.new_page()
    started = time.perf_counter()
    tab.goto(page.resolve().as_uri())
    tab.wait_for_selector("html[data-ready=true]", timeout=300_000)
    wall = time.perf_counter() - started
    script = float(tab.get_attribute("html", "data-render-ms") or "nan") / 1000
    context.close()
    return wall, script


def _load() -> str:
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("chromium is missing: run scripts/bootstrap")
        return 2
    figures: dict[str, dict[str, Any]] = {}
    load = _load()
    with tempfile.TemporaryDirectory() as temp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for models, columns in [*((size, True) for size in SIZES), (SIZES[-1], False)]:
            label = f"{models}" if columns else f"{models}, no column lineage"
            log = Path(temp) / label / "events.jsonl"
            log.parent.mkdir()
            manifest = synthetic_manifest(models)
            record_run(manifest, log, fail="int_domain0__1", column_lineage=columns)
            builds, walls, scripts = [], [], []
            result = None
            for _ in range(args.runs):
                started = time.perf_counter()
                result = build_lineage_page(log, log.with_name("page.html"), title="bench")
                builds.append(time.perf_counter() - started)
                wall, script = _render(browser, log.with_name("page.html"))
                walls.append(wall)
                scripts.append(script)
            assert result is not None
            figures[label] = {
                "nodes": result.nodes,
                "edges": result.edges,
                "size": result.size,
                "build": builds,
                "wall": walls,
                "script": scripts,
            }
            print(
                f"{label:>5} models: {result.nodes} nodes, {result.edges} edges, "
                f"page {result.size / 1024:.0f} KiB ({result.size / result.nodes:.0f} B/node); "
                f"build {_median(builds)}; open in Chromium {_median(walls)}, "
                f"of which drawing {_median(scripts)}"
            )
        browser.close()
    small = figures[str(SIZES[0])]
    for name in [*(str(size) for size in SIZES[1:]), f"{SIZES[-1]}, no column lineage"]:
        large = figures[name]
        print(
            f"ratios {name} / {SIZES[0]} models: nodes {large['nodes'] / small['nodes']:.1f}x, "
            f"size {large['size'] / small['size']:.1f}x, "
            f"build {statistics.median(large['build']) / statistics.median(small['build']):.1f}x, "
            f"open {statistics.median(large['wall']) / statistics.median(small['wall']):.1f}x"
        )
    print(f"load average before: {load}; after: {_load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
