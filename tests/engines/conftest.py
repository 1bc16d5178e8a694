"""The engines' fixtures, shared with the profile and observability tests."""

from __future__ import annotations

from tests.observability.conftest import lineage_receiver, lineage_validator
from tests.profiles.conftest import postgres_server

__all__ = ["lineage_receiver", "lineage_validator", "postgres_server"]
