"""dagster-dbt's CLI resource, minus two costs paid on every invocation.

* ``DbtCliResource`` learns the dbt version by running ``dbt --version``, which also asks PyPI
  for the newest release: 4-8 s and a network call per step. The version of the dbt-core
  installed beside this Python is the same answer, read from package metadata in microseconds.
* Before each command it loads the dbt adapter and its macros in-process (2-3 s), which only
  ``fetch_column_metadata`` / ``fetch_row_counts`` use; floe's component uses them only when
  ``table_metadata`` asks for row counts or column types (``load_adapter``), and otherwise does
  without (dbt itself reports rows affected, and column schemas come from the manifest).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

from dagster_dbt import DbtCliResource
from packaging import version

__all__ = ["FloeDbtCliResource"]


class FloeDbtCliResource(DbtCliResource):
    """A ``DbtCliResource`` that reads the dbt version in-process.

    It loads the dbt adapter in-process only when ``load_adapter`` is true.
    """

    load_adapter: bool = False

    @cached_property
    def _cli_version(self) -> version.Version:
        try:
            return version.parse(package_version("dbt-core"))
        except PackageNotFoundError:  # pragma: no cover - a dbt without dbt-core (fusion)
            return super()._cli_version

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> Any:
        if self.load_adapter:
            return super()._initialize_dbt_core_adapter(args)
        # None tells DbtCliInvocation there is no adapter handle; see the module docstring.
        return None
