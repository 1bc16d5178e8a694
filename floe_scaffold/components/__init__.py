"""The floe Dagster component (``type: floe_scaffold.components.FloeDbtProject``)."""

from floe_scaffold.components._component import FloeDbtProject, LineageSettings, TracingSettings
from floe_scaffold.components._expected import ExpectedDbtGraph, expected_dbt_graphs
from floe_scaffold.components._keys import TranslationSettings

__all__ = [
    "ExpectedDbtGraph",
    "FloeDbtProject",
    "LineageSettings",
    "TracingSettings",
    "TranslationSettings",
    "expected_dbt_graphs",
]
