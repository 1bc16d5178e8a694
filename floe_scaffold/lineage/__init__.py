"""OpenLineage for dbt runs: START / COMPLETE / FAIL per node, never blocking a run.

Emission lives here (FR-024) and is driven by dbt's event stream inside the asset execution, not
by a sensor. See ``_config`` for where events go and ``_naming`` for job and dataset names.
"""

from floe_scaffold.lineage._config import DEFAULT_NAMESPACE, LineageTarget, resolve_lineage
from floe_scaffold.lineage._events import PRODUCER
from floe_scaffold.lineage._facets import SCHEMA_DIR, ColumnClassificationDatasetFacet
from floe_scaffold.lineage._naming import dataset_name, dataset_namespace, node_job_name
from floe_scaffold.lineage._recorder import DagsterRun, LineageRecorder

__all__ = [
    "DEFAULT_NAMESPACE",
    "PRODUCER",
    "SCHEMA_DIR",
    "ColumnClassificationDatasetFacet",
    "DagsterRun",
    "LineageRecorder",
    "LineageTarget",
    "dataset_name",
    "dataset_namespace",
    "node_job_name",
    "resolve_lineage",
]
