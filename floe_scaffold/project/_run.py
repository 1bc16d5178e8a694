"""``floe run``: materialize a project's assets in-process, with progress and a summary."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from floe_scaffold.errors import EXIT_INVALID_INPUT, FloeError
from floe_scaffold.project._locate import ProjectLayout

__all__ = ["AssetOutcome", "DefinitionsLoadError", "RunSummary", "project_home", "run_project"]


_INSTANCE_CONFIG = """\
# The Dagster instance of `floe run` and `floe dev` (runs, event logs, schedules), kept in this
# directory. Telemetry is off so that runs make no network call; remove these lines to share
# usage statistics with Dagster.
telemetry:
  enabled: false
"""


def project_home(layout: ProjectLayout) -> Path:
    """The project's Dagster instance directory (``.dagster_home``), created if missing."""
    home = layout.root / ".dagster_home"
    home.mkdir(exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(_INSTANCE_CONFIG, encoding="utf-8")
    return home


@dataclass(frozen=True)
class AssetOutcome:
    """One dbt node of the run: its status, duration and rows (when the adapter says)."""

    name: str
    unique_id: str
    status: str
    seconds: float
    rows: int | None
    message: str | None


@dataclass(frozen=True)
class RunSummary:
    """The outcome of ``floe run``."""

    success: bool
    run_id: str
    outcomes: tuple[AssetOutcome, ...]
    failure: str | None
    seconds: float


def run_project(
    layout: ProjectLayout,
    *,
    select: str | None,
    on_progress: Callable[[str, str], None],
) -> RunSummary:
    """Load the project's definitions and execute the selected assets (all by default)."""
    os.environ.setdefault("DAGSTER_IS_DEV_CLI", "1")  # floe run is a development command
    started = time.perf_counter()
    import dagster as dg

    try:
        module = layout.import_definitions()
        loaded: Any = getattr(module, "defs")  # noqa: B009 - the attribute name is the convention
        definitions: dg.Definitions = loaded() if callable(loaded) else loaded
    except Exception as error:  # noqa: BLE001 - any failure of user code is reported, not raised
        raise DefinitionsLoadError(
            f"cannot load {layout.package}.definitions: {_root_cause(error)}"
        ) from None
    job = definitions.resolve_implicit_global_asset_job_def()
    keys = _selected_keys(definitions, select)
    run_id = str(uuid.uuid4())
    # With DAGSTER_HOME set, runs are recorded there (and `dagster dev` on that home shows them);
    # otherwise an in-memory instance keeps `floe run` fast.
    persistent = bool(os.environ.get("DAGSTER_HOME"))
    with dg.DagsterInstance.get() if persistent else dg.DagsterInstance.ephemeral() as instance:
        instance.add_event_listener(run_id, _progress_listener(on_progress))
        result = job.execute_in_process(
            instance=instance,
            run_id=run_id,
            raise_on_error=False,
            asset_selection=keys,
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        )
    failure = None
    if not result.success:
        failures = [event for event in result.all_events if event.is_step_failure]
        if failures and failures[0].step_failure_data.error is not None:
            failure = failures[0].step_failure_data.error.message.strip()
        else:
            failure = "the run failed"
    return RunSummary(
        success=result.success,
        run_id=run_id,
        outcomes=tuple(_outcomes(layout.root, run_id)),
        failure=failure,
        seconds=time.perf_counter() - started,
    )


class DefinitionsLoadError(FloeError):
    """The project's definitions failed to load (exit 1); the message is the root cause."""

    exit_code = EXIT_INVALID_INPUT


def _root_cause(error: BaseException) -> str:
    # Dagster wraps component errors; the useful text is at the bottom of the chain, and a
    # floe error there (e.g. a failed `dbt parse`) already says what to do.
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    for link in chain:
        if isinstance(link, FloeError):
            return link.message
    last = chain[-1]
    return f"{type(last).__name__}: {last} (run `dg check defs` for the full trace)"


def _selected_keys(definitions: Any, select: str | None) -> Sequence[Any] | None:
    if not select:
        return None
    from dagster_dbt import build_dbt_asset_selection

    dbt_defs = [assets for assets in definitions.assets or () if _is_dbt_assets(assets)]
    selection = build_dbt_asset_selection(dbt_defs, dbt_select=select)
    graph = definitions.resolve_asset_graph()
    return sorted(selection.resolve(graph), key=str)


def _is_dbt_assets(assets: Any) -> bool:
    specs = getattr(assets, "specs", ())
    return any("dagster_dbt/manifest" in spec.metadata for spec in specs)


def _progress_listener(on_progress: Callable[[str, str], None]) -> Callable[[Any], None]:
    # dbt prints its own per-node progress; this adds what dbt's lines do not say.
    def listener(entry: Any) -> None:
        event = entry.dagster_event
        if event is None:
            return
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed:
                check = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
                on_progress("check failed", check)
        elif event.event_type_value == "STEP_FAILURE":
            on_progress("failed", event.step_key or "step")

    return listener


def _outcomes(root: Path, run_id: str) -> list[AssetOutcome]:
    # Each dagster-dbt invocation writes its own target/<op>-<run id[:7]>-<suffix>/ directory,
    # so this run's results are read from its own run_results.json, never a stale shared one.
    outcomes: list[AssetOutcome] = []
    for results_file in sorted(root.rglob(f"target/*-{run_id[:7]}-*/run_results.json")):
        results = json.loads(results_file.read_text(encoding="utf-8"))
        for result in results.get("results", []):
            unique_id = str(result["unique_id"])
            if unique_id.startswith("test."):
                continue
            response = result.get("adapter_response") or {}
            rows = response.get("rows_affected")
            outcomes.append(
                AssetOutcome(
                    name=unique_id.split(".")[-1],
                    unique_id=unique_id,
                    status=str(result["status"]),
                    seconds=float(result.get("execution_time") or 0.0),
                    rows=rows if isinstance(rows, int) and rows >= 0 else None,
                    message=result.get("message") if result["status"] == "error" else None,
                )
            )
    return outcomes
