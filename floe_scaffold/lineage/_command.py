"""What ``floe lineage`` does: the page of a project's lineage log, or its replay to an endpoint."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from floe_scaffold.contract import CompiledArtifacts, load_artifacts
from floe_scaffold.errors import (
    EXIT_INVALID_INPUT,
    FloeError,
    InputFileError,
    SystemFailureError,
)
from floe_scaffold.lineage._config import LineageTarget, resolve_lineage
from floe_scaffold.lineage._log import log_files
from floe_scaffold.lineage._send import SendSummary, send_log
from floe_scaffold.lineage._view import PageResult, build_lineage_page

__all__ = ["NotDeliveredError", "log_path", "replay", "write_lineage_page"]

#: The log a run writes when no endpoint is configured (``_config``), relative to the project.
LOG = Path(".floe") / "lineage" / "events.jsonl"


class NotDeliveredError(FloeError):
    """``floe lineage --send`` did not deliver every event (exit 2; exit 1 when only refused)."""

    def __init__(self, summary: SendSummary) -> None:
        if summary.stopped is not None:
            message = (
                f"stopped at an event that did not arrive at {summary.endpoint} "
                f"({summary.stopped}); {summary.left} event(s) left: run the same command "
                "again to send the rest"
            )
        else:
            message = (
                f"{summary.refused} event(s) refused by {summary.endpoint}; they will not be "
                "sent again"
            )
            self.exit_code = EXIT_INVALID_INPUT
        super().__init__(message)
        self.refusals = list(summary.refusals[:10])

    def lines(self) -> list[str]:
        return [self.message, *self.refusals]


def log_path(project_dir: Path) -> Path:
    """The project's lineage log; an error naming it when neither it nor a rotated file exists."""
    path = project_dir / LOG
    if not log_files(path):
        message = (
            f"no lineage log at {path}: runs write one there when lineage has no endpoint "
            "(`floe run` in the project makes it)"
        )
        raise InputFileError(message, source=path)
    return path


def write_lineage_page(project_dir: Path, out: Path | None) -> PageResult:
    """Write the page of the project's log to ``out`` (default: beside the log)."""
    log = log_path(project_dir)
    target = out if out is not None else log.with_name("lineage.html")
    title = f"lineage of {project_dir.resolve().name}"
    try:
        return build_lineage_page(log, target, title=title)
    except OSError as error:
        message = f"cannot write {target}: {error.strerror or error}"
        raise SystemFailureError(message, source=target) from None


def _target(project_dir: Path, url: str, api_key_env: str | None, timeout: float) -> LineageTarget:
    api_key = None
    if api_key_env is not None:
        api_key = os.environ.get(api_key_env)
        if not api_key:
            message = (
                f"--api-key-env {api_key_env}: the variable is not set; export {api_key_env}=... "
                "or leave the option out"
            )
            raise FloeError(message)
    if url:
        return LineageTarget(
            "http", url, "floe", timeout, api_key or os.environ.get("OPENLINEAGE_API_KEY")
        )
    contract = _contract(project_dir)
    target = resolve_lineage(
        project_root=project_dir,
        timeout=timeout,
        contract_endpoint=contract.observability.lineage_endpoint if contract else None,
        contract_namespace=contract.lineage_namespace if contract else None,
    )
    if target.kind in {"http", "client-config"}:
        if api_key and target.kind == "http":
            target = LineageTarget("http", target.location, target.namespace, timeout, api_key)
        return target
    message = (
        "no OpenLineage endpoint to send to: pass --send URL, or set OPENLINEAGE_URL (and "
        "OPENLINEAGE_API_KEY), or OPENLINEAGE_CONFIG / an openlineage.yml here"
    )
    if target.kind == "off":
        message = "OPENLINEAGE_DISABLED is set: unset it to send the log"
    raise FloeError(message)


def _contract(project_dir: Path) -> CompiledArtifacts | None:
    """The project's contract copy, when it has one (its ``lineage_endpoint`` is a default)."""
    path = project_dir / ".floe" / "compiled_artifacts.json"
    return load_artifacts(path) if path.is_file() else None


def replay(
    project_dir: Path,
    url: str,
    *,
    api_key_env: str | None,
    timeout: float,
    report: Callable[[str], None],
) -> SendSummary:
    """Send the project's log to ``url`` (or the run's endpoint when empty); see ``_send``."""
    from floe_scaffold.lineage._transport import client_transport

    log = log_path(project_dir)
    target = _target(project_dir, url, api_key_env, timeout)
    try:
        transport = client_transport(target)
    except Exception as error:  # noqa: BLE001 - the user's openlineage.yml may be anything
        message = f"cannot build the OpenLineage transport of {target.label}: {error}"
        raise FloeError(message) from None
    report(f"sending {log} to {target.label} ...")
    last = [time.monotonic()]

    def progress(summary: SendSummary) -> None:
        if time.monotonic() - last[0] >= 1.0:
            last[0] = time.monotonic()
            report(f"  {summary.sent} sent, {summary.refused} refused so far")

    try:
        summary = send_log(log, target, transport, timeout=timeout, on_progress=progress)
    except OSError as error:  # the cursor file beside the log could not be written
        where = error.filename or log.parent
        message = f"cannot write {where}: {error.strerror or error}; make the folder writable"
        raise SystemFailureError(message, source=str(where)) from None
    report(
        f"{summary.sent} sent, {summary.refused} refused, {summary.skipped} skipped "
        f"(unreadable lines), {summary.already} sent before, {summary.left} left"
    )
    if not summary.complete:
        raise NotDeliveredError(summary)
    return summary
