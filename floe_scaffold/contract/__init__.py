"""The CompiledArtifacts contract (v1): models, loading, and its JSON Schema.

Example:
    >>> from floe_scaffold.contract import parse_artifacts
    >>> artifacts = parse_artifacts('''{
    ...   "metadata": {"compiled_at": "2024-01-15T10:30:00Z",
    ...                "floe_core_version": "0.1.0", "source_hash": "abc"},
    ...   "compute": {"target": "postgres", "properties": {"host": "db"}},
    ...   "transforms": [{"type": "dbt", "path": "./dbt"}]}''')
    >>> artifacts.dbt_profiles_path
    '.floe/profiles'

"""

from floe_scaffold.contract._load import load_artifacts, parse_artifacts
from floe_scaffold.contract._models import (
    ArtifactMetadata,
    CatalogConfig,
    ColumnClassification,
    CompiledArtifacts,
    ComputeConfig,
    ConsumptionConfig,
    CubeSecurityConfig,
    EnvironmentContext,
    GovernanceConfig,
    ObservabilityConfig,
    PreAggregationConfig,
    TransformConfig,
)
from floe_scaffold.contract._schema import (
    SCHEMA_ID,
    contract_json_schema,
    contract_json_schema_text,
)
from floe_scaffold.contract._types import SUPPORTED_VERSIONS, ComputeTargetName

__all__ = [
    "SCHEMA_ID",
    "SUPPORTED_VERSIONS",
    "ArtifactMetadata",
    "CatalogConfig",
    "ColumnClassification",
    "CompiledArtifacts",
    "ComputeConfig",
    "ComputeTargetName",
    "ConsumptionConfig",
    "CubeSecurityConfig",
    "EnvironmentContext",
    "GovernanceConfig",
    "ObservabilityConfig",
    "PreAggregationConfig",
    "TransformConfig",
    "contract_json_schema",
    "contract_json_schema_text",
    "load_artifacts",
    "parse_artifacts",
]
