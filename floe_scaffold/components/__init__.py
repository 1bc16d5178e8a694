"""The floe Dagster component (``type: floe_scaffold.components.FloeDbtProject``)."""

from floe_scaffold.components._component import FloeDbtProject, LineageSettings, TracingSettings

__all__ = ["FloeDbtProject", "LineageSettings", "TracingSettings"]
