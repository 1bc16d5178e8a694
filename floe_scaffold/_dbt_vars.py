"""dbt's ``--vars``: read a value, and merge a run's over those of the component's ``cli_args``.

Kept free of Dagster and dbt imports: ``floe run`` reads the value before it starts the warm
dbt (``_warm_dbt``), whose parse must use the ``--vars`` the run will give dbt.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

__all__ = ["VarsError", "merged_vars", "vars_of", "without_vars"]


class VarsError(ValueError):
    """A ``--vars`` value that is not a YAML mapping; the message says which and why."""


def vars_of(text: str, *, where: str) -> dict[str, Any]:
    """The mapping a ``--vars`` value (YAML or JSON) holds, with JSON's types (dates as text).

    Raises:
        VarsError: it is not YAML, or not a mapping; the message names ``where`` it came from.

    """
    try:
        loaded = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise VarsError(f"{where} is not valid YAML{at}: {text!r}") from None
    if not isinstance(loaded, dict) or not all(isinstance(key, str) for key in loaded):
        kind = type(loaded).__name__ if loaded is not None else "empty"
        raise VarsError(
            f"{where} must be a YAML mapping of variable names to values, like "
            f"'{{key: value}}' or '{{\"key\": \"value\"}}'; got a {kind} value: {text!r}"
        )
    # Values as dbt gets them (merged_vars writes JSON): a YAML date or time is its text, so
    # the mapping can also be stored as a Dagster run's config (which holds no date objects).
    return dict(json.loads(json.dumps(loaded, default=str)))


def without_vars(cli_args: Sequence[str]) -> tuple[list[str], str | None]:
    """``cli_args`` without any ``--vars``, and the last value given (``--vars V``/``--vars=V``)."""
    kept: list[str] = []
    found: str | None = None
    skip = False
    for index, arg in enumerate(cli_args):
        if skip:
            skip = False
            continue
        if arg == "--vars" and index + 1 < len(cli_args):
            found, skip = cli_args[index + 1], True
        elif arg.startswith("--vars="):
            found = arg.removeprefix("--vars=")
        else:
            kept.append(arg)
    return kept, found


def merged_vars(cli_args: Sequence[str], run_vars: Mapping[str, Any] | None) -> str | None:
    """The ``--vars`` value dbt gets: ``cli_args``' own, with ``run_vars`` over it, as JSON.

    Without ``run_vars`` it is ``cli_args``' value as written (None if there is none).
    """
    _, given = without_vars(cli_args)
    if run_vars is None:
        return given
    base = vars_of(given, where="--vars of cli_args") if given is not None else {}
    return json.dumps({**base, **run_vars}, sort_keys=True, default=str)
