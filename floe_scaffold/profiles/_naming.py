"""How environment-variable names are derived. One rule, used for every target.

``<PREFIX>[_<ENV>]_<KEY>``, upper-cased, where:

* ``PREFIX`` is ``compute.connection_secret_ref`` with every character that is not a letter or a
  digit turned into ``_`` (``snowflake-prod-creds`` → ``SNOWFLAKE_PROD_CREDS``); a name that would
  start with a digit gets ``FLOE_`` in front. Without a secret ref it is ``FLOE_<TARGET>``
  (``FLOE_SNOWFLAKE``).
* ``ENV`` is present only for environments named explicitly (``floe profiles --env prod``), so
  each environment of one profile reads its own variables.
* ``KEY`` is the profile key (``PASSWORD``, ``USER``, ``TOKEN``, ``ACCOUNT``…).

So ``snowflake-prod-creds`` gives ``SNOWFLAKE_PROD_CREDS_PASSWORD``, and with ``--env dev``,
``SNOWFLAKE_PROD_CREDS_DEV_PASSWORD``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["EnvVarNaming", "env_var_prefix", "env_var_reference"]


def _upper_word(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", text).upper()


def env_var_prefix(target: str, secret_ref: str | None, environment: str | None) -> str:
    """The ``PREFIX[_ENV]`` part of every variable name of one profile output."""
    prefix = _upper_word(secret_ref) if secret_ref else f"FLOE_{_upper_word(target)}"
    if prefix[0].isdigit():
        prefix = f"FLOE_{prefix}"
    if environment is not None:
        prefix = f"{prefix}_{_upper_word(environment)}"
    return prefix


def env_var_reference(name: str, default: str | None = None) -> str:
    """Dbt's Jinja for reading ``name`` from the environment, e.g. ``{{ env_var('X') }}``."""
    if default is None:
        return f"{{{{ env_var('{name}') }}}}"
    return f"{{{{ env_var('{name}', '{default}') }}}}"


@dataclass(frozen=True)
class EnvVarNaming:
    """Names the environment variables of one profile output."""

    prefix: str

    def name(self, key: str) -> str:
        """The variable that holds ``key``, e.g. ``SNOWFLAKE_PROD_CREDS_PASSWORD``."""
        return f"{self.prefix}_{_upper_word(key)}"
