"""``floe lineage``: the page of a real demo run and of a 5,000-model run, in headless Chromium.

The browser is Debian's ``chromium`` (``scripts/bootstrap`` installs it) driven by Playwright;
every request the page makes is recorded and aborted unless it is the page itself, and the
context is offline, so a page that needed the network would show it here.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from floe_scaffold._cli import main
from floe_scaffold.project import init_project
from tests.manifests import synthetic_manifest
from tests.observability.lineage_runs import FAILURE_MESSAGE, record_run
from tests.project.conftest import floe_run

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM is not None, "chromium is missing: scripts/bootstrap installs it"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def _open(browser: Any, page_file: Path, timeout_ms: int) -> tuple[Any, list[str]]:
    """The page loaded offline, and every URL it asked for (aborted unless the page's own)."""
    context = browser.new_context(viewport={"width": 1400, "height": 860}, offline=True)
    requests: list[str] = []
    own = page_file.resolve().as_uri()

    def guard(route: Any) -> None:
        requests.append(route.request.url)
        if route.request.url == own:
            route.continue_()
        else:
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(own)
    page.wait_for_selector("html[data-ready=true]", timeout=timeout_ms)
    assert errors == []
    return page, requests


def _events(log: Path) -> Iterator[dict[str, Any]]:
    """The log's events read with nothing of floe's: the rotated files (``events.jsonl.N``,
    oldest first), then the log itself, one JSON object per line."""
    rotated = sorted(
        (file for file in log.parent.glob(log.name + ".*") if file.suffix[1:].isdigit()),
        key=lambda file: int(file.suffix[1:]),
        reverse=True,
    )
    for file in [*rotated, log]:
        for line in file.read_text(encoding="utf-8").splitlines():
            if line.strip():
                yield json.loads(line)


def _lineage(key: str, edges: set[tuple[str, str]]) -> set[str]:
    """``key`` and everything upstream and downstream of it along ``edges``."""
    found = {key}
    for forward in (True, False):
        queue, seen = [key], {key}
        while queue:
            at = queue.pop()
            for a, b in edges:
                here, there = (a, b) if forward else (b, a)
                if here == at and there not in seen:
                    seen.add(there)
                    queue.append(there)
        found |= seen
    return found


def _expected(log: Path) -> dict[str, Any]:
    """Datasets, jobs, edges and classified columns as the log's events say them."""
    datasets: set[str] = set()
    jobs: set[str] = set()
    edges: set[tuple[str, str]] = set()
    parents: set[str] = set()
    run_jobs: dict[str, str] = {}
    parent_of: dict[str, str] = {}
    classified: dict[str, dict[str, bool]] = {}
    column_inputs: dict[str, set[str]] = {}
    failed: dict[str, str] = {}
    for event in _events(log):
        job = f"{event['job']['namespace']}/{event['job']['name']}"
        jobs.add(job)
        run_jobs[event["run"]["runId"]] = job
        facets = event["run"].get("facets") or {}
        if "parent" in facets:
            parents.add(facets["parent"]["run"]["runId"])
            parent_of[event["run"]["runId"]] = facets["parent"]["run"]["runId"]
        if event["eventType"] == "FAIL" and "errorMessage" in facets:
            failed[job] = facets["errorMessage"]["message"]
        for side in ("inputs", "outputs"):
            for item in event.get(side) or []:
                dataset = f"{item['namespace']}/{item['name']}"
                datasets.add(dataset)
                edges.add((dataset, job) if side == "inputs" else (job, dataset))
                columns = (item.get("facets") or {}).get("columnClassification", {})
                for name, value in columns.get("columns", {}).items():
                    pii = value["classification"].lower() == "pii" or bool(value.get("piiType"))
                    classified.setdefault(dataset, {})[name] = pii
                traced = (item.get("facets") or {}).get("columnLineage", {})
                for name, value in traced.get("fields", {}).items():  # the latest facet wins
                    column_inputs[f"{dataset}#{name}"] = {
                        f"{one['namespace']}/{one['name']}#{one['field']}"
                        for one in value["inputFields"]
                    }
    parent_jobs = {run_jobs[run] for run in parents if run in run_jobs}
    # The runs to pick from: the parents of node runs (the dbt invocations), not the Dagster
    # runs above them.
    invocations = {parent for run, parent in parent_of.items() if run not in parents}
    invocation_jobs = {run_jobs[run] for run in invocations if run in run_jobs}
    linked = {job for pair in edges for job in pair if job in jobs}
    return {
        "datasets": datasets,
        "jobs": {job for job in jobs if job in linked or job not in parent_jobs},
        "parent_jobs": parent_jobs,
        "invocation_jobs": invocation_jobs,
        "edges": edges,
        "classified": classified,
        "column_inputs": column_inputs,
        "failed": failed,
    }


def _column_closure(start: str, inputs: dict[str, set[str]], upstream: bool) -> set[str]:
    """Every ``dataset#column`` upstream (or downstream) of ``start`` in the events' facets."""
    edges = {(one, column) for column, ones in inputs.items() for one in ones}
    found: set[str] = set()
    frontier = {start}
    while frontier:
        if upstream:
            step = {one for one, column in edges if column in frontier}
        else:
            step = {column for one, column in edges if one in frontier}
        frontier = step - found - {start}
        found |= step
    return found - {start}


def _check_column(page: Any, dataset: str, column: str, expected: dict[str, Any]) -> None:
    """Select ``column`` of ``dataset``: the page's traced columns are the events' closure."""
    _check_details(page, dataset)
    page.click(f'#details tr[data-column="{column}"] a.col')
    page.wait_for_selector(f'#details[data-column="{column}"]')
    shown = {
        side: set(
            page.eval_on_selector_all(
                f"#details ul.col-{side} li[data-ref]", "els => els.map(e => e.dataset.ref)"
            )
        )
        for side in ("up", "down")
    }
    start = f"{dataset}#{column}"
    assert shown["up"] == _column_closure(start, expected["column_inputs"], upstream=True)
    assert shown["down"] == _column_closure(start, expected["column_inputs"], upstream=False)


def _check_dom(page: Any, expected: dict[str, Any], requests: list[str], own: str) -> None:
    keys = page.eval_on_selector_all(
        ".node", "els => els.map(e => [e.dataset.kind, e.dataset.key])"
    )
    assert {key for kind, key in keys if kind == "dataset"} == expected["datasets"]
    assert {key for kind, key in keys if kind == "job"} == expected["jobs"]
    assert len(keys) == len(expected["datasets"]) + len(expected["jobs"]), "each node once"
    edges = page.eval_on_selector_all(
        ".edge", "els => els.map(e => [e.dataset.from, e.dataset.to])"
    )
    assert {tuple(edge) for edge in edges} == expected["edges"]
    assert len(edges) == len(expected["edges"])
    options = page.inner_text("#runs")
    assert expected["invocation_jobs"], "a run to pick"
    assert all("/dbt-run-" in job for job in expected["invocation_jobs"])
    for job in expected["invocation_jobs"]:
        assert job.split("/", 1)[1] in options
    assert "__ASSET_JOB" not in options, "a Dagster run is the chain's root, not a run to pick"
    failed = page.eval_on_selector_all(
        ".job[data-state=failed]", "els => els.map(e => [e.dataset.key, e.dataset.error])"
    )
    assert failed, "the failed node is marked"
    for key, message in failed:
        assert message == expected["failed"][key]
    assert requests == [own], "no request left the page"


def _check_details(page: Any, key: str) -> Any:
    page.click("#fit")  # the whole graph in view (the first view may show only its first layers)
    page.click(f'.node[data-key="{key}"]', force=True)
    page.wait_for_selector(f'#details[data-key="{key}"]')
    return page


def test_the_demo_page_shows_every_node_edge_failure_and_classification(
    tmp_path: Path, browser: Any
) -> None:
    project = tmp_path / "shop"
    init_project(project, git=False)
    first = floe_run(project, {})
    assert first.returncode == 0, first.stdout + first.stderr
    (project / "dbt/models/marts/orders.sql").write_text(
        "select order_id, no_such_column from {{ ref('stg_orders') }}\n", encoding="utf-8"
    )
    second = floe_run(project, {})
    assert second.returncode == 1
    log = project / ".floe/lineage/events.jsonl"
    assert main(["lineage", "--project-dir", str(project)]) == 0
    page_file = project / ".floe/lineage/lineage.html"
    expected = _expected(log)
    assert expected["classified"], "the demo classifies columns"
    page, requests = _open(browser, page_file, 30_000)
    _check_dom(page, expected, requests, page_file.resolve().as_uri())
    (orders,) = [key for key in expected["failed"] if key.endswith("shop.orders.build.run")]
    _check_details(page, orders)
    assert "no_such_column" in page.inner_text("#details pre.error-message")
    faded = set(page.eval_on_selector_all(".node.faded", "els => els.map(e => e.dataset.key)"))
    upstream = {a for a, b in expected["edges"] if b == orders}
    downstream = {b for a, b in expected["edges"] if a == orders}
    assert faded, "what is not in the selection's lineage fades"
    assert not faded & (upstream | downstream | {orders})
    chain = page.inner_text("#details ol.chain")
    assert "dagster/" in chain
    assert "dbt-run-shop" in chain
    assert page.locator("#runs option").count() == 3, "latest, and the two runs"
    page.select_option("#runs", index=2)  # the older run, which succeeded
    assert page.get_attribute(f'.node[data-key="{orders}"]', "data-state") == "complete"
    page.select_option("#runs", index=1)  # the newer one
    assert page.get_attribute(f'.node[data-key="{orders}"]', "data-state") == "failed"
    for dataset, columns in expected["classified"].items():
        _check_details(page, dataset)
        rows = page.eval_on_selector_all(
            "#details tr[data-classification]",
            "els => els.map(e => [e.dataset.column, e.dataset.pii === 'true'])",
        )
        assert dict(rows) == columns
        pii = page.get_attribute(f'.node[data-key="{dataset}"]', "class") or ""
        assert ("pii" in pii.split()) == any(columns.values())
    # Column lineage: a mart's aggregate back to the seed's column, a seed column forward to
    # every column made from it; the graph keeps only the datasets on the way (and their jobs).
    page.select_option("#runs", index=0)
    (customers,) = [d for d in expected["datasets"] if d.endswith(".customers")]
    (payments,) = [d for d in expected["datasets"] if d.endswith(".raw_payments")]
    _check_column(page, customers, "lifetime_value", expected)
    assert f"{payments}#amount" in _column_closure(
        f"{customers}#lifetime_value", expected["column_inputs"], upstream=True
    ), "through the staging view and the ephemeral model"
    kept = set(
        page.eval_on_selector_all(".dataset:not(.faded)", "els => els.map(e => e.dataset.key)")
    )
    assert payments in kept and customers in kept
    assert not any(d.endswith(".raw_customers") for d in kept), "no column of it is on the way"
    _check_column(page, payments, "amount", expected)
    assert f"{customers}#lifetime_value" in _column_closure(
        f"{payments}#amount", expected["column_inputs"], upstream=False
    )
    page.click(f'#details ul.col-down li[data-ref="{customers}#lifetime_value"] a')
    page.wait_for_selector(f'#details[data-key="{customers}"][data-column="lifetime_value"]')


def test_a_5000_model_run_renders_whole_in_bounded_time(tmp_path: Path, browser: Any) -> None:
    log = tmp_path / "big" / ".floe" / "lineage" / "events.jsonl"
    log.parent.mkdir(parents=True)
    manifest = synthetic_manifest(5000)
    record_run(manifest, log, fail="int_domain0__1023")
    assert log.with_name("events.jsonl.1").is_file(), "the log rotated: the page reads both"
    assert main(["lineage", "--project-dir", str(tmp_path / "big")]) == 0
    page_file = log.with_name("lineage.html")
    expected = _expected(log)
    assert len(expected["jobs"]) > 5000
    started = time.monotonic()
    page, requests = _open(browser, page_file, 60_000)
    assert time.monotonic() - started < 60
    _check_dom(page, expected, requests, page_file.resolve().as_uri())
    (failed,) = expected["failed"].keys() - {k for k in expected["failed"] if "dbt-run" in k}
    assert FAILURE_MESSAGE.format(name="int_domain0__1023") in expected["failed"][failed]
    query = "int_domain0__1023"
    page.fill("#search", query)
    hits = {key for key in expected["datasets"] | expected["jobs"] if query in key.lower()}
    matched = page.eval_on_selector_all(".node.match", "els => els.map(e => e.dataset.key)")
    assert set(matched) == hits and len(hits) >= 2, "the model's dataset and its jobs"
    assert page.inner_text("#matches") == f"{len(hits)} found"
    page.press("#search", "Enter")
    selected = page.get_attribute("#details", "data-key")
    assert selected in hits
    assert page.eval_on_selector_all(".node.selected", "els => els.map(e => e.dataset.key)") == [
        selected
    ]
    kept = page.eval_on_selector_all(".node:not(.faded)", "els => els.map(e => e.dataset.key)")
    assert set(kept) == _lineage(selected, expected["edges"]), "its lineage, and only it, stays"
    assert len(kept) < len(hits) + 1000, "most of a 5,000-model graph fades"
