"""The OpenLineage client transport of a :class:`LineageTarget`, and one dispatcher per target."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from floe_scaffold.lineage._config import LineageTarget
from floe_scaffold.lineage._dispatch import Dispatcher

__all__ = ["dispatcher_for"]

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
        from openlineage.client.transport.file import FileConfig, FileTransport

        Path(target.location).parent.mkdir(parents=True, exist_ok=True)
        return OpenLineageClient(
            transport=FileTransport(FileConfig(log_file_path=target.location, append=True))
        )
    return OpenLineageClient()  # the user's OPENLINEAGE_CONFIG / openlineage.yml


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
