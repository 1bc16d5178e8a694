"""The OpenLineage client transport of a :class:`LineageTarget`, and one dispatcher per target.

A ``file`` target is floe's own log (``_log.EventLog``: whole lines, rotated), not the client's
FileTransport, which appends to a torn last line and grows without bound.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from floe_scaffold.lineage._config import LineageTarget
from floe_scaffold.lineage._dispatch import Dispatcher
from floe_scaffold.lineage._log import EventLog

__all__ = ["client_transport", "dispatcher_for"]

_LOG = logging.getLogger(__name__)
_NO_RETRY = {"total": 0, "connect": 0, "read": 0, "status": 0, "other": 0}
_dispatchers: dict[tuple[str, str], Dispatcher] = {}
_lock = threading.Lock()


def _client(target: LineageTarget) -> Any:
    from openlineage.client import OpenLineageClient

    if target.kind == "http":
        from openlineage.client.transport.http import (
            ApiKeyTokenProvider,
            HttpConfig,
            HttpTransport,
            TokenProvider,
        )

        auth = (
            ApiKeyTokenProvider({"apiKey": target.api_key}) if target.api_key else TokenProvider({})
        )
        config = HttpConfig(url=target.location, timeout=target.timeout, retry=_NO_RETRY, auth=auth)
        return OpenLineageClient(transport=HttpTransport(config))
    if target.kind == "file":
        return OpenLineageClient(transport=_log_transport(Path(target.location)))
    project_file = Path(target.location)
    if target.location != os.environ.get("OPENLINEAGE_CONFIG") and project_file.is_absolute():
        # The project's openlineage.yml, which the client would not find from the working
        # directory: read here and given to the client as its configuration.
        try:
            return OpenLineageClient(config=_yaml_mapping(project_file))
        except Exception as error:  # noqa: BLE001 - the user's file may be anything
            from openlineage.client.transport.noop import NoopConfig, NoopTransport

            _LOG.warning("floe: lineage is off for this run: %s (%s)", project_file, error)
            return OpenLineageClient(transport=NoopTransport(NoopConfig()))
    return OpenLineageClient()  # the user's OPENLINEAGE_CONFIG / openlineage.yml


def _yaml_mapping(path: Path) -> dict[str, Any]:
    import yaml

    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: an OpenLineage configuration must be a mapping")
    return loaded


def _log_transport(path: Path) -> Any:
    """A client transport that appends to floe's own rotated log (see ``_log``)."""
    from openlineage.client.serde import Serde
    from openlineage.client.transport.transport import Transport

    log = EventLog(path)

    class LogTransport(Transport):
        kind = "floe-log"

        def emit(self, event: Any) -> None:
            log.append(Serde.to_json(event))

    return LogTransport()


def client_transport(target: LineageTarget) -> Any:
    """The client transport a run would use for ``target`` (its ``emit`` sends one event)."""
    return _client(target).transport


def dispatcher_for(target: LineageTarget) -> Dispatcher:
    """The process's dispatcher for ``target`` (one breaker per endpoint and process)."""
    key = (target.kind, target.location)
    with _lock:
        dispatcher = _dispatchers.get(key)
        if dispatcher is None:
            client = _client(target)
            # An HTTP send past its timeout is stuck (an answer dripped byte by byte keeps the
            # per-read timeout from firing); the user's own transport has its own settings.
            stuck_after = target.timeout if target.kind == "http" else None
            dispatcher = Dispatcher(
                client.emit, target.label, secrets=target.secrets, stuck_after=stuck_after
            )
            _dispatchers[key] = dispatcher
        return dispatcher
