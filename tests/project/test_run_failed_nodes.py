"""How ``floe run`` names the dbt nodes that failed, from the run's own ``run_results.json``."""

from __future__ import annotations

import json
from pathlib import Path

from floe_scaffold.project._run import _failed_nodes

RUN_ID = "0123456789abcdef"


def _results(root: Path, *results: dict[str, str]) -> None:
    target = root / "dbt" / "target" / f"dbt_project-{RUN_ID[:7]}-x1"
    target.mkdir(parents=True)
    (target / "run_results.json").write_text(json.dumps({"results": list(results)}))


def test_a_failed_unit_test_is_named_with_its_model(tmp_path: Path) -> None:
    _results(
        tmp_path,
        {"unique_id": "unit_test.shop.customers.counts_orders", "status": "fail", "message": "x"},
        {"unique_id": "model.shop.customers", "status": "skipped"},
        {"unique_id": "test.shop.not_null_orders_id.1a2b", "status": "fail", "message": "y"},
    )
    assert _failed_nodes(tmp_path, RUN_ID) == [
        ("unit_test", "counts_orders (of customers)", "x"),
        ("test", "not_null_orders_id", "y"),
    ]
