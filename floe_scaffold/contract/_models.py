"""CompiledArtifacts v1.0.0, field for field as floe-core defines it.

Every model is frozen and rejects unknown fields. Two departures from a plain transcription, both
so that the files real floe users already have are accepted:

* the top-level ``$schema`` and ``$comment`` keys that editors and the golden files carry are
  accepted and dropped (they are not contract fields);
* ``consumption.security.filter_column`` is the canonical name, and its first name
  ``tenant_column`` is accepted as an alias (never both at once).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from floe_scaffold.contract._types import (
    ComputeTargetName,
    RelativePath,
    SecretRefName,
    StrictBool,
    StrictInt,
    StrictStr,
    UtcTimestamp,
    UuidString,
    VersionString,
)

__all__ = [
    "ArtifactMetadata",
    "CatalogConfig",
    "ColumnClassification",
    "CompiledArtifacts",
    "ComputeConfig",
    "ConsumptionConfig",
    "CubeSecurityConfig",
    "EnvironmentContext",
    "GovernanceConfig",
    "ObservabilityConfig",
    "PreAggregationConfig",
    "TransformConfig",
]

_ANNOTATION_KEYS = ("$schema", "$comment")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class ArtifactMetadata(_Model):
    """When and from what the artifacts were compiled."""

    compiled_at: UtcTimestamp = Field(description="Timestamp when compilation occurred (UTC)")
    floe_core_version: StrictStr = Field(
        min_length=1, description="Version of floe-core that produced artifacts"
    )
    source_hash: StrictStr = Field(
        min_length=1, description="SHA-256 hash of source floe.yaml content"
    )


class ComputeConfig(_Model):
    """The compute target: which dbt adapter runs the models, and its non-secret settings."""

    target: ComputeTargetName = Field(description="dbt adapter that runs the models")
    connection_secret_ref: SecretRefName | None = Field(
        default=None, description="K8s secret name for connection credentials"
    )
    properties: dict[str, Any] = Field(
        default_factory=dict, description="Target-specific properties"
    )


class TransformConfig(_Model):
    """One transform: a dbt project at ``path``."""

    type: Literal["dbt"] = Field(description="Transform type (currently only 'dbt' supported)")
    path: RelativePath = Field(description="Path to transform source relative to floe.yaml")
    target: StrictStr | None = Field(default=None, description="Optional target override")


class PreAggregationConfig(_Model):
    """Cube pre-aggregation refresh settings."""

    refresh_schedule: StrictStr = Field(
        default="*/30 * * * *", description="Cron expression for pre-aggregation refresh"
    )
    timezone: StrictStr = Field(default="UTC", description="Timezone for schedule evaluation")


def _security_schema(schema: dict[str, Any]) -> None:
    # The alias is part of the contract too: describe it, and forbid giving both names.
    properties = schema.setdefault("properties", {})
    properties["tenant_column"] = {
        "type": "string",
        "deprecated": True,
        "description": "Former name of filter_column; accepted as an alias",
    }
    schema["not"] = {"required": ["filter_column", "tenant_column"]}


class CubeSecurityConfig(_Model):
    """Cube row-level security."""

    model_config = ConfigDict(json_schema_extra=_security_schema)

    row_level: StrictBool = Field(default=True, description="Enable row-level security")
    # The alias is a choice of names, which the mypy plugin cannot see through.
    filter_column: StrictStr = Field(  # type: ignore[pydantic-alias]
        default="tenant_id",
        validation_alias=AliasChoices("filter_column", "tenant_column"),
        description="Column for tenant filtering (formerly tenant_column)",
    )

    @model_validator(mode="before")
    @classmethod
    def _one_name_only(cls, data: Any) -> Any:
        if isinstance(data, dict) and "filter_column" in data and "tenant_column" in data:
            raise ValueError("give either filter_column or its former name tenant_column, not both")
        return data


class ConsumptionConfig(_Model):
    """The Cube semantic layer (carried through; floe-scaffold does not deploy Cube)."""

    enabled: StrictBool = Field(default=False, description="Enable Cube semantic layer")
    port: StrictInt = Field(default=4000, description="Cube API port")
    api_secret_ref: SecretRefName | None = Field(
        default=None, description="K8s secret name for Cube API key"
    )
    database_type: StrictStr | None = Field(
        default=None, description="Database driver type (postgres, snowflake, bigquery, etc.)"
    )
    dev_mode: StrictBool = Field(default=False, description="Enable Cube Playground in development")
    pre_aggregations: PreAggregationConfig = Field(
        default_factory=PreAggregationConfig, description="Pre-aggregation configuration"
    )
    security: CubeSecurityConfig = Field(
        default_factory=CubeSecurityConfig, description="Row-level security configuration"
    )


class GovernanceConfig(_Model):
    """Classification and policy settings."""

    classification_source: Literal["dbt_meta", "external"] = Field(
        default="dbt_meta", description="Source for column classifications"
    )
    policies: dict[str, Any] = Field(default_factory=dict, description="Policy definitions")
    emit_lineage: StrictBool = Field(default=True, description="Emit OpenLineage events")


class ObservabilityConfig(_Model):
    """Tracing, metrics and lineage switches and endpoints."""

    traces: StrictBool = Field(default=True, description="Enable OpenTelemetry traces")
    metrics: StrictBool = Field(default=True, description="Enable metrics collection")
    lineage: StrictBool = Field(default=True, description="Enable OpenLineage emission")
    otlp_endpoint: StrictStr | None = Field(default=None, description="OTLP exporter endpoint")
    lineage_endpoint: StrictStr | None = Field(default=None, description="OpenLineage API endpoint")
    attributes: dict[str, StrictStr] = Field(
        default_factory=dict, description="Custom trace attributes"
    )


class CatalogConfig(_Model):
    """An Iceberg catalog (carried through; floe-scaffold does not manage Iceberg tables)."""

    type: Literal["polaris", "glue", "nessie"] = Field(
        description="Catalog type (polaris, glue, nessie)"
    )
    uri: StrictStr = Field(description="Catalog endpoint URI")
    credential_secret_ref: SecretRefName | None = Field(
        default=None, description="K8s secret name for credentials"
    )
    warehouse: StrictStr | None = Field(default=None, description="Default warehouse name")
    scope: StrictStr | None = Field(default=None, description="OAuth2 scope (Polaris)")
    token_refresh_enabled: StrictBool | None = Field(
        default=None, description="Enable OAuth2 token refresh"
    )
    access_delegation: StrictStr | None = Field(
        default=None, description="Iceberg access delegation header"
    )
    properties: dict[str, Any] = Field(
        default_factory=dict, description="Catalog-specific properties"
    )


class EnvironmentContext(_Model):
    """Which tenant, project and environment the artifacts were compiled for."""

    tenant_id: UuidString = Field(description="Tenant identifier")
    tenant_slug: StrictStr = Field(min_length=1, description="Human-readable tenant slug")
    project_id: UuidString = Field(description="Project identifier")
    project_slug: StrictStr = Field(min_length=1, description="Human-readable project slug")
    environment_id: UuidString = Field(description="Environment identifier")
    environment_type: Literal["development", "preview", "staging", "production"] = Field(
        description="Type of environment"
    )
    governance_category: Literal["production", "non_production"] = Field(
        description="Governance category for the environment"
    )


class ColumnClassification(_Model):
    """How sensitive one column is (from dbt ``meta.floe``)."""

    classification: StrictStr = Field(description="Classification, e.g. pii, pci, internal")
    pii_type: StrictStr | None = Field(default=None, description="Kind of PII, e.g. email")
    sensitivity: Literal["low", "medium", "high"] = Field(
        default="medium", description="Sensitivity level"
    )


def _annotations_schema(schema: dict[str, Any]) -> None:
    properties = schema.setdefault("properties", {})
    properties["$schema"] = {"type": "string", "description": "Editor hint; ignored"}
    properties["$comment"] = {"type": "string", "description": "Free comment; ignored"}


class CompiledArtifacts(_Model):
    """The contract floe's compiler writes, and the only input floe-scaffold reads.

    Example:
        >>> from floe_scaffold.contract import CompiledArtifacts
        >>> artifacts = CompiledArtifacts.model_validate({
        ...     "metadata": {"compiled_at": "2024-01-15T10:30:00Z",
        ...                  "floe_core_version": "0.1.0", "source_hash": "abc"},
        ...     "compute": {"target": "duckdb"},
        ...     "transforms": [{"type": "dbt", "path": "./dbt"}],
        ... })
        >>> artifacts.compute.target
        'duckdb'

    """

    model_config = ConfigDict(title="CompiledArtifacts", json_schema_extra=_annotations_schema)

    version: VersionString = Field(default="1.0.0", description="Contract version (semver)")
    metadata: ArtifactMetadata = Field(description="Compilation metadata")
    compute: ComputeConfig = Field(description="Compute target configuration")
    transforms: list[TransformConfig] = Field(description="List of transform configurations")
    consumption: ConsumptionConfig = Field(
        default_factory=ConsumptionConfig, description="Cube semantic layer configuration"
    )
    governance: GovernanceConfig = Field(
        default_factory=GovernanceConfig, description="Data governance configuration"
    )
    observability: ObservabilityConfig = Field(
        default_factory=ObservabilityConfig, description="Observability configuration"
    )
    catalog: CatalogConfig | None = Field(default=None, description="Iceberg catalog configuration")
    dbt_manifest_path: RelativePath | None = Field(
        default=None, description="Path to dbt manifest.json"
    )
    dbt_project_path: RelativePath | None = Field(
        default=None, description="Path to dbt project directory"
    )
    dbt_profiles_path: RelativePath = Field(
        default=".floe/profiles",
        description="Path to profiles directory (required by dagster-dbt)",
    )
    lineage_namespace: StrictStr | None = Field(
        default=None, description="OpenLineage namespace (SaaS enrichment)"
    )
    environment_context: EnvironmentContext | None = Field(
        default=None, description="Optional SaaS environment context"
    )
    column_classifications: dict[str, dict[str, ColumnClassification]] | None = Field(
        default=None, description="Extracted column classifications from dbt manifest"
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_annotations(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not any(key in data for key in _ANNOTATION_KEYS):
            return data
        for key in _ANNOTATION_KEYS:
            if key in data and not isinstance(data[key], str):
                raise ValueError(f"{key} must be a string (it is an annotation and is ignored)")
        return {key: value for key, value in data.items() if key not in _ANNOTATION_KEYS}
