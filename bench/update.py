"""``floe update`` of the demo project against copier's own update of the same project.

Both run in-process on the same committed project, alternately, from a template repository
made of this checkout (tagged like a release):

* no-op: the installed template and the contract are those the project was rendered with;
* contract change: a new contract (threads, a lineage endpoint, a tenant attribute), so
  profiles.yml, the contract copy, defs.yaml and README change. copier is given the same new
  render context floe computes. The project is reset between runs, untimed.

floe's extra work over copier's is the temporary clone, recomputing the context, and applying
the patch. 5 runs after a warm-up; ``--quick`` 1.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from bench._timing import Figure, figure, with_ratio
from floe_scaffold.contract import parse_artifacts
from floe_scaffold.project import TemplateSource, init_project, update_project
from floe_scaffold.project._context import build_context
from floe_scaffold.project._demo import demo_contract_text
from floe_scaffold.project._names import ProjectNames
from floe_scaffold.project._update import _copier_update as run_copier_update
from tests.project.template_repo import TemplateRepo, git


def _changed_contract(where: Path) -> Path:
    contract = json.loads(demo_contract_text())
    contract["compute"]["properties"]["threads"] = 8
    contract["transforms"][0]["target"] = "ci"
    contract["observability"]["lineage_endpoint"] = "http://lineage.internal:5000"
    contract["observability"]["attributes"]["tenant.id"] = "acme"
    path = where / "changed.json"
    path.write_text(json.dumps(contract, indent=2), encoding="utf-8")
    return path


def _copier_update(project: Path, source: TemplateSource, artifacts: Path | None) -> None:
    """copier's own update with the context floe would compute (floe's exact copier call)."""
    text = artifacts.read_text("utf-8") if artifacts else demo_contract_text()
    context = build_context(
        parse_artifacts(text, source="bench"),
        text,
        ProjectNames("demo", "demo"),
        profile_name="floe",
        starter_dbt=True,
    )
    run_copier_update(project, context, source)


def _reset(project: Path) -> None:
    git(project, "checkout", "-q", "--", ".")
    git(project, "clean", "-qfd")


def _timed(action: Callable[[], object], project: Path) -> float:
    _reset(project)
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def run(*, quick: bool) -> list[Figure]:
    runs = 1 if quick else 5
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="floe-bench-update-") as scratch:
        where = Path(scratch)
        source = TemplateRepo(where / "template").source("v0.1.0")
        project = where / "demo"
        init_project(project, template=source)
        changed = _changed_contract(where)
        for label, artifacts in (("no-op", None), ("contract change", changed)):
            actions: dict[str, Callable[[], object]] = {
                f"floe update, {label}": partial(
                    update_project, project, artifacts=artifacts, template=source
                ),
                f"copier update, {label}": partial(_copier_update, project, source, artifacts),
            }
            for action in actions.values():  # warm-up
                _timed(action, project)
            samples: dict[str, list[float]] = {name: [] for name in actions}
            for _ in range(runs):
                for name, action in actions.items():
                    samples[name].append(_timed(action, project))
            ours, theirs = (figure(name, values) for name, values in samples.items())
            figures += [with_ratio(ours, theirs), theirs]
        _reset(project)
    return figures
