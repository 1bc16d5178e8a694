"""What every warehouse module provides: the contract between the registry and a target."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from floe_scaffold.contract import ComputeTargetName
from floe_scaffold.profiles._properties import Json, PropertyReader

__all__ = ["OutputBuilder", "Warehouse", "compact"]

#: Builds one dbt profile output (the mapping under ``outputs.<env>``) from the properties.
OutputBuilder = Callable[[PropertyReader], dict[str, Json]]


@dataclass(frozen=True)
class Warehouse:
    """One compute target: its dbt adapter, and how its profile output is built.

    To add a target: write ``_<target>.py`` with a ``WAREHOUSE`` of this type, add it to the
    literal registry in ``_registry.py``, and add the name to ``ComputeTargetName``. The
    per-target tests run over the registry, so the new target gets every one of them.
    """

    target: ComputeTargetName
    #: The PyPI package of the dbt adapter (what a generated project depends on).
    adapter_package: str
    #: Settings a user may give in ``compute.properties``, for help texts and the README.
    documented_properties: tuple[str, ...]
    build_output: OutputBuilder


def compact(**values: Json) -> dict[str, Json]:
    """The keyword arguments, in order, without those that are ``None``."""
    return {key: value for key, value in values.items() if value is not None}
