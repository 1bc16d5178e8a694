"""OpenLineage for dbt runs: START / COMPLETE / FAIL per node, never blocking a run.

Emission lives here (FR-024) and is driven by dbt's event stream inside the asset execution, not
by a sensor. See ``_config`` for where events go and ``_naming`` for job and dataset names. The
recorder (``_recorder``) imports the OpenLineage client, so it is loaded only when a run starts,
never when definitions load.
"""

from floe_scaffold.lineage._config import DEFAULT_NAMESPACE, LineageTarget, resolve_lineage
from floe_scaffold.lineage._naming import dataset_name, dataset_namespace, node_job_name

__all__ = [
    "DEFAULT_NAMESPACE",
    "LineageTarget",
    "dataset_name",
    "dataset_namespace",
    "node_job_name",
    "resolve_lineage",
]
