"""floe-scaffold: stand up and keep up a Dagster + dbt project from a floe contract.

The public surface is small on purpose:

* :mod:`floe_scaffold.contract` — the CompiledArtifacts v1 contract (models, loading, schema);
* :mod:`floe_scaffold.profiles` — dbt ``profiles.yml`` for the 7 compute targets;
* :mod:`floe_scaffold.errors` — the errors a user can cause, and their exit codes.

The ``floe`` command line is ``floe_scaffold._cli``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("floe-scaffold")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
