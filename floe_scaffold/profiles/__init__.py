"""dbt ``profiles.yml`` for the 7 compute targets, credentials always from the environment.

Example:
    >>> from floe_scaffold.contract import parse_artifacts
    >>> from floe_scaffold.profiles import Environment, build_profile
    >>> artifacts = parse_artifacts('''{
    ...   "metadata": {"compiled_at": "2024-01-15T10:30:00Z",
    ...                "floe_core_version": "0.1.0", "source_hash": "abc"},
    ...   "compute": {"target": "postgres", "connection_secret_ref": "pg-creds",
    ...               "properties": {"host": "db", "database": "analytics", "schema": "public"}},
    ...   "transforms": [{"type": "dbt", "path": "./dbt"}]}''')
    >>> output = build_profile([Environment("dev", artifacts)]).outputs["dev"]
    >>> output["password"]
    "{{ env_var('PG_CREDS_PASSWORD') }}"

"""

from floe_scaffold.profiles._build import (
    DEFAULT_ENVIRONMENT,
    DEFAULT_PROFILE_NAME,
    BuiltProfile,
    Environment,
    build_profile,
    default_environment_name,
)
from floe_scaffold.profiles._naming import env_var_prefix
from floe_scaffold.profiles._properties import EnvVar, is_credential_key
from floe_scaffold.profiles._registry import WAREHOUSES, warehouse_for
from floe_scaffold.profiles._warehouse import Warehouse
from floe_scaffold.profiles._yaml import PROFILES_FILENAME, render_profiles_yaml, write_profiles

__all__ = [
    "DEFAULT_ENVIRONMENT",
    "DEFAULT_PROFILE_NAME",
    "PROFILES_FILENAME",
    "WAREHOUSES",
    "BuiltProfile",
    "EnvVar",
    "Environment",
    "Warehouse",
    "build_profile",
    "default_environment_name",
    "env_var_prefix",
    "is_credential_key",
    "render_profiles_yaml",
    "warehouse_for",
    "write_profiles",
]
