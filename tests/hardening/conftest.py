"""Fixtures of the hardening tests (issue 8), shared with the observability and profile tests."""

from __future__ import annotations

from tests.observability.conftest import (
    garbage_url,
    lineage_receiver,
    lineage_validator,
    otlp_receiver,
    refused_url,
)
from tests.profiles.conftest import postgres_server

__all__ = [
    "garbage_url",
    "lineage_receiver",
    "lineage_validator",
    "otlp_receiver",
    "postgres_server",
    "refused_url",
]
