"""Trace ids in log lines (FR-019): a filter that stamps them, and a JSON formatter.

``TraceContextFilter`` adds ``trace_id`` (32 hex) and ``span_id`` (16 hex) of the active span to
every record ("" outside a span); ``JsonFormatter`` writes one JSON object per line with them and
any ``extra`` fields (e.g. ``openlineage_run_id``), so a log line leads to its span and its
OpenLineage run.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

from opentelemetry import trace

__all__ = ["RUN_LOGGER", "JsonFormatter", "TraceContextFilter"]

#: The logger of per-node run lines (one per materialization, inside its span).
RUN_LOGGER = "floe_scaffold.run"
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class TraceContextFilter(logging.Filter):
    """Stamps ``trace_id`` and ``span_id`` of the current span on each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = f"{context.trace_id:032x}"
            record.span_id = f"{context.span_id:016x}"
        else:
            record.trace_id = record.span_id = ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, trace ids and extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        return json.dumps(payload, default=str)
