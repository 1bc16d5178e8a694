"""Where lineage goes: the contract's default, the standard OpenLineage settings, the component.

Precedence, highest first:

1. ``OPENLINEAGE_DISABLED=true`` turns emission off;
2. the component's YAML (``lineage: {enabled, endpoint, namespace, timeout}``), when set;
3. ``OPENLINEAGE_CONFIG`` or an ``openlineage.yml`` in the working directory: the user's own
   transport, built by the OpenLineage client;
4. ``OPENLINEAGE_URL`` (with ``OPENLINEAGE_API_KEY``): an HTTP endpoint;
5. the contract: ``observability.lineage`` (and ``governance.emit_lineage``) switch it on or off,
   ``lineage_endpoint`` is the HTTP endpoint, ``lineage_namespace`` the namespace;
6. with lineage on and no endpoint anywhere: a JSON Lines file, ``.floe/lineage/events.jsonl``
   in the project, so lineage is visible locally.

The namespace is the component's, else ``OPENLINEAGE_NAMESPACE``, else the contract's, else
``floe``. HTTP endpoints get a short timeout and no retries: a down endpoint never holds a run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_NAMESPACE", "LineageTarget", "resolve_lineage"]

DEFAULT_NAMESPACE = "floe"
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class LineageTarget:
    """Where events go: ``kind`` is ``http``, ``file``, ``client-config`` or ``off``."""

    kind: str
    location: str
    namespace: str
    timeout: float = 2.0
    api_key: str | None = None

    @property
    def enabled(self) -> bool:
        return self.kind != "off"


def resolve_lineage(
    *,
    project_root: Path,
    enabled: bool | None = None,
    endpoint: str | None = None,
    namespace: str | None = None,
    contract_enabled: bool = True,
    contract_endpoint: str | None = None,
    contract_namespace: str | None = None,
    timeout: float = 2.0,
) -> LineageTarget:
    """Resolve the settings above into one target (reads the environment once, here)."""
    space = (
        namespace
        or os.environ.get("OPENLINEAGE_NAMESPACE")
        or contract_namespace
        or DEFAULT_NAMESPACE
    )
    switched_on = contract_enabled if enabled is None else enabled
    if os.environ.get("OPENLINEAGE_DISABLED", "").strip().lower() in _TRUE or not switched_on:
        return LineageTarget("off", "", space)
    api_key = os.environ.get("OPENLINEAGE_API_KEY")
    if endpoint:
        return LineageTarget("http", endpoint, space, timeout, api_key)
    config = os.environ.get("OPENLINEAGE_CONFIG")
    if config or Path("openlineage.yml").is_file():
        return LineageTarget("client-config", config or "openlineage.yml", space, timeout)
    url = os.environ.get("OPENLINEAGE_URL") or contract_endpoint
    if url:
        return LineageTarget("http", url, space, timeout, api_key)
    events = project_root / ".floe" / "lineage" / "events.jsonl"
    return LineageTarget("file", str(events), space)
