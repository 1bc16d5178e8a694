"""The dbt flags of one ``floe run``: ``--full-refresh``, ``--exclude``, ``--vars``.

They reach dbt through the dbt step's run config (``components._dbt_step.DbtRunConfig``), the
same fields the launchpad shows, so a run from the command line and one from the UI take one
path. ``--exclude`` also narrows the Dagster asset selection, as ``--select`` does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from floe_scaffold.errors import EXIT_INVALID_INPUT, FloeError

__all__ = ["RunOptionError", "RunOptions", "parse_vars", "run_config"]


class RunOptionError(FloeError):
    """A ``floe run`` flag dbt could not use (exit 1); refused before anything runs."""

    exit_code = EXIT_INVALID_INPUT


def parse_vars(text: str | None) -> dict[str, Any] | None:
    """The mapping ``--vars`` gives (YAML, so JSON too); None when the flag is not given.

    Raises:
        RunOptionError: the value is not a YAML mapping; the message shows how to write one.

    """
    if text is None:
        return None
    from floe_scaffold._dbt_vars import VarsError, vars_of

    try:
        return vars_of(text, where="--vars")
    except VarsError as error:
        raise RunOptionError(
            f"{error}; quote it for the shell: floe run --vars '{{start_date: 2024-01-01}}'"
        ) from None


@dataclass(frozen=True)
class RunOptions:
    """dbt flags for one run, as ``floe run`` was given them."""

    exclude: str | None = None
    full_refresh: bool = False
    dbt_vars: Mapping[str, Any] | None = field(default=None)

    def config(self) -> dict[str, Any]:
        """The dbt step's run config fields these options set (empty when none is set)."""
        fields: dict[str, Any] = {}
        if self.full_refresh:
            fields["full_refresh"] = True
        if self.dbt_vars is not None:
            fields["vars"] = dict(self.dbt_vars)
        if self.exclude:
            fields["exclude"] = self.exclude
        return fields


def _takes_run_config(assets: Any) -> bool:
    """Whether a dbt assets definition's step has floe's run config (a ``DbtRunConfig``)."""
    try:
        fields = assets.op.config_schema.config_type.fields
    except AttributeError:
        return False
    return "full_refresh" in fields and "vars" in fields


def run_config(
    dbt_assets: Iterable[Any], selected: Iterable[Any] | None, options: RunOptions
) -> dict[str, Any]:
    """The ``ops`` run config giving ``options`` to every dbt step the selection runs.

    Raises:
        RunOptionError: options were given but no dbt step of the run can take them (the
            project's definitions do not use floe's component).

    """
    fields = options.config()
    if not fields:
        return {}
    keys = None if selected is None else set(selected)
    ops: dict[str, Any] = {}
    for assets in dbt_assets:
        if keys is not None and not keys & set(assets.keys):
            continue
        if _takes_run_config(assets):
            ops[assets.op.name] = {"config": dict(fields)}
    if not ops:
        flags = ", ".join(f"--{name.replace('_', '-')}" for name in fields)
        raise RunOptionError(
            f"{flags}: no dbt step of this run takes them (it needs the component "
            "floe_scaffold.components.FloeDbtProject in defs.yaml, of floe-scaffold with run "
            "config); run without them, or run `floe update` to get the current component"
        )
    return {"ops": ops}
