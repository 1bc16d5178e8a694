"""Where lineage goes: the contract's default, the standard OpenLineage settings, the component.

Precedence, highest first:

1. ``OPENLINEAGE_DISABLED=true`` turns emission off;
2. the component's YAML (``lineage: {enabled, endpoint, namespace, timeout}``), when set;
3. ``OPENLINEAGE_CONFIG`` or an ``openlineage.yml`` in the working directory (where the
   OpenLineage client looks), else in the project's root (so ``floe run --project-dir`` from
   elsewhere finds the project's): the user's own transport, built by the OpenLineage client;
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
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["DEFAULT_NAMESPACE", "LineageTarget", "redacted_url", "resolve_lineage", "url_secrets"]

DEFAULT_NAMESPACE = "floe"
#: The OpenLineage client's own configuration file.
CONFIG_FILE = "openlineage.yml"
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class LineageTarget:
    """Where events go: ``kind`` is ``http``, ``file``, ``client-config`` or ``off``."""

    kind: str
    location: str
    namespace: str
    timeout: float = 2.0
    api_key: str | None = field(default=None, repr=False)

    @property
    def enabled(self) -> bool:
        return self.kind != "off"

    @property
    def label(self) -> str:
        """Where events go, safe to log: no password, query value or API key."""
        return redacted_url(self.location) if self.location else self.kind

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every credential this target carries (the API key, the URL's userinfo and query)."""
        found = [*url_secrets(self.location), *([self.api_key] if self.api_key else [])]
        return tuple(dict.fromkeys(found))


def redacted_url(location: str) -> str:
    """``location`` with a URL's userinfo and query values replaced by ``***`` (else as it is)."""
    try:
        parts = urlsplit(location)
    except ValueError:
        return "<an unparsable URL>"
    if not parts.scheme or not parts.netloc:
        return location
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    query = urlencode(
        [(key, "***") for key, _ in parse_qsl(parts.query, keep_blank_values=True)], safe="*"
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def url_secrets(location: str) -> list[str]:
    """The parts of a URL that may be credentials: userinfo, password, user, query values.

    A user name, query value or fragment shorter than 4 characters (``?v=1``) is not taken for
    a credential, so that scrubbing it does not garble every message; a password always is.
    """
    try:
        parts = urlsplit(location)
    except ValueError:
        return [location] if location else []
    found = [parts.password or ""]
    if "@" in parts.netloc:
        found.append(parts.netloc.rpartition("@")[0])
    maybe = [parts.username or "", parts.fragment]
    maybe += [value for _, value in parse_qsl(parts.query, keep_blank_values=True)]
    return [value for value in [*found, *(m for m in maybe if len(m) >= 4)] if value]


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
    config = os.environ.get("OPENLINEAGE_CONFIG") or _config_file(project_root)
    if config:
        return LineageTarget("client-config", config, space, timeout)
    url = os.environ.get("OPENLINEAGE_URL") or contract_endpoint
    if url:
        return LineageTarget("http", url, space, timeout, api_key)
    events = project_root / ".floe" / "lineage" / "events.jsonl"
    return LineageTarget("file", str(events), space)


def _config_file(project_root: Path) -> str | None:
    """``openlineage.yml`` of the working directory, else of the project's root, else None."""
    if Path(CONFIG_FILE).is_file():
        return CONFIG_FILE
    in_project = project_root / CONFIG_FILE
    return str(in_project) if in_project.is_file() else None
