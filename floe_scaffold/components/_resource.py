"""dagster-dbt's CLI resource, minus two costs paid on every invocation.

* ``DbtCliResource`` learns the dbt version by running ``dbt --version``, which also asks PyPI
  for the newest release: 4-8 s and a network call per step. The version of the dbt-core
  installed beside this Python is the same answer, read from package metadata in microseconds.
* Before each command it loads the dbt adapter and its macros in-process (2-3 s), which only
  dagster-dbt's ``fetch_column_metadata`` / ``fetch_row_counts`` use. floe's component uses
  neither: its table metadata (``_table_metadata``) loads an adapter of its own, once, after
  dbt, and only when ``table_metadata`` asks for row counts or column types.

It also passes ``--profile``/``--target`` only when they are not the project's defaults, so that
floe and a user's own ``dbt build`` share dbt's partial parse (see ``_dbt_defaults``).
"""

from __future__ import annotations

import signal
import subprocess
import weakref
from collections.abc import Sequence
from functools import cached_property
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

from dagster_dbt import DbtCliResource
from packaging import version
from pydantic import model_validator

from floe_scaffold._dbt_defaults import without_defaults
from floe_scaffold._warm_dbt import warm_client

__all__ = ["FloeDbtCliResource", "stop_dbt_processes"]

#: The dbt processes this Python started (``stop_dbt_processes`` waits for them to end).
_STARTED: weakref.WeakSet[subprocess.Popen[bytes]] = weakref.WeakSet()


def stop_dbt_processes(timeout: float = 30.0) -> None:
    """Wait until every dbt process started here has exited; after ``timeout``, end it.

    Called after an interrupted run: dagster-dbt forwards SIGINT to dbt only when the
    interruption reaches it while it reads dbt's output, and a stray dbt must not outlive
    ``floe run`` (it would keep the warehouse locked). A dbt still running is sent SIGINT
    (dbt then cancels its queries and writes its results), then SIGKILL after ``timeout``.
    """
    for process in list(_STARTED):
        if process.poll() is not None:
            continue
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class FloeDbtCliResource(DbtCliResource):
    """A ``DbtCliResource`` that reads the dbt version in-process and loads no dbt adapter."""

    @model_validator(mode="before")
    @classmethod
    def _drop_default_flags(cls, data: Any) -> Any:
        """``profile``/``target`` unset where they are the defaults dbt would use anyway."""
        if not isinstance(data, dict) or not data.get("project_dir"):
            return data
        profile, target = without_defaults(
            str(data["project_dir"]),
            None if data.get("profiles_dir") is None else str(data["profiles_dir"]),
            data.get("profile"),
            data.get("target"),
        )
        data = {**data, "profile": profile, "target": target}
        # `floe run` started dbt early (see floe_scaffold/_warm_dbt.py): its client runs it.
        client = warm_client(str(data.get("dbt_executable") or ""))
        return data if client is None else {**data, "dbt_executable": client}

    @cached_property
    def _cli_version(self) -> version.Version:
        try:
            return version.parse(package_version("dbt-core"))
        except PackageNotFoundError:  # pragma: no cover - a dbt without dbt-core (fusion)
            return super()._cli_version

    def cli(self, *args: Any, **kwargs: Any) -> Any:
        """dagster-dbt's ``cli``, with the dbt process it starts remembered (see above)."""
        invocation = super().cli(*args, **kwargs)
        _STARTED.add(invocation.process)
        return invocation

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> Any:
        del args
        # None tells DbtCliInvocation there is no adapter handle; see the module docstring.
        return None
