"""OpenLineage RunEvents for a dbt invocation and its nodes, built with the official client.

Every string that goes into an event is cleaned of terminal escape sequences (dbt colours its
messages: ESC ``[31mERROR`` ESC ``[0m``), whatever facet it lands in.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import attr
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    data_quality_assertions_dataset,
    datasource_dataset,
    error_message_run,
    job_type_job,
    output_statistics_output_dataset,
    parent_run,
    processing_engine_run,
    schema_dataset,
    sql_job,
)

from floe_scaffold import __version__
from floe_scaffold.lineage._facets import ColumnClassification, ColumnClassificationDatasetFacet

__all__ = [
    "PRODUCER",
    "REPOSITORY",
    "InputColumn",
    "Parent",
    "dataset",
    "orchestrator_event",
    "run_event",
    "singular_test_facet",
    "strip_ansi",
    "utc",
]

#: The project's repository (``[project.urls] Source`` in pyproject.toml).
REPOSITORY = "https://github.com/floe-runtime/floe-scaffold"
#: The ``producer`` of every event and facet: this project's source at the release's tag.
PRODUCER = f"{REPOSITORY}/tree/v{__version__}"
_JOB_TYPES = {"model": "MODEL", "seed": "SEED", "snapshot": "SNAPSHOT", "test": "TEST"}
#: CSI (colours, cursor), OSC (titles, links, up to BEL or ST) and two-byte escapes; 8-bit CSI.
_ANSI = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])|\x9b[0-?]*[ -/]*[@-~]"
)


def strip_ansi(text: str) -> str:
    """``text`` without terminal escape sequences (and without a stray ESC byte)."""
    return _ANSI.sub("", text).replace("\x1b", "")


def utc(value: str | None = None) -> str:
    """An RFC 3339 UTC time: dbt's naive ISO time (which is UTC), or now."""
    if value:
        parsed = datetime.fromisoformat(value.rstrip("Z"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return parsed.isoformat().replace("+00:00", "Z")
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


class Parent:
    """A parent (and optional root) run, for the ``parent`` run facet of child events."""

    def __init__(
        self, run_id: str, namespace: str, name: str, root: tuple[str, str, str] | None = None
    ) -> None:
        self.run_id, self.namespace, self.name, self.root = run_id, namespace, name, root

    def facet(self) -> parent_run.ParentRunFacet:
        root = None
        if self.root is not None:
            root_id, root_namespace, root_name = self.root
            root = parent_run.Root(
                run=parent_run.RootRun(runId=root_id),
                job=parent_run.RootJob(namespace=root_namespace, name=root_name),
            )
        return parent_run.ParentRunFacet(
            run=parent_run.Run(runId=self.run_id),
            job=parent_run.Job(namespace=self.namespace, name=self.name),
            root=root,
            producer=PRODUCER,
        )


#: One input column of an output column: ``(dataset name, column, subtype)``, the subtype one of
#: the facet's DIRECT transformations (``IDENTITY``, ``TRANSFORMATION``, ``AGGREGATION``).
InputColumn = tuple[str, str, str]


def dataset(
    namespace: str,
    name: str,
    *,
    columns: Mapping[str, Mapping[str, Any]] | None = None,
    classifications: Mapping[str, Mapping[str, Any]] | None = None,
    column_lineage: Mapping[str, Sequence[InputColumn]] | None = None,
    rows: int | None = None,
) -> dict[str, Any]:
    """The facets of one dataset: data source, schema (from the manifest), classifications.

    ``column_lineage`` gives each output column's input columns (all in ``namespace``; none for
    a column made from no column, a literal say), sent as the ``columnLineage`` facet. ``rows``
    (an output's rows written, as the adapter reported them) is its ``outputStatistics`` facet,
    sent as dbt-ol sends it: only for a positive count.
    """
    facets: dict[str, Any] = {
        "dataSource": datasource_dataset.DatasourceDatasetFacet(
            name=namespace, uri=namespace, producer=PRODUCER
        )
    }
    if columns:
        facets["schema"] = schema_dataset.SchemaDatasetFacet(
            fields=[
                schema_dataset.SchemaDatasetFacetFields(
                    name=column_name,
                    type=column.get("data_type") or None,
                    description=column.get("description") or None,
                )
                for column_name, column in columns.items()
            ],
            producer=PRODUCER,
        )
    if classifications:
        facets["columnClassification"] = ColumnClassificationDatasetFacet(
            columns={
                column: ColumnClassification(
                    classification=str(value["classification"]),
                    sensitivity=str(value.get("sensitivity") or "medium"),
                    piiType=value.get("pii_type"),
                )
                for column, value in classifications.items()
            },
            producer=PRODUCER,
        )
    traced = dict(column_lineage or {})
    if traced:
        facets["columnLineage"] = column_lineage_dataset.ColumnLineageDatasetFacet(
            fields={
                column: column_lineage_dataset.Fields(
                    inputFields=[
                        column_lineage_dataset.InputField(
                            namespace=namespace,
                            name=source,
                            field=field,
                            transformations=[
                                column_lineage_dataset.Transformation(
                                    type="DIRECT", subtype=subtype
                                )
                            ],
                        )
                        for source, field, subtype in inputs
                    ]
                )
                for column, inputs in traced.items()
            },
            producer=PRODUCER,
        )
    found: dict[str, Any] = {"namespace": namespace, "name": name, "facets": facets}
    if rows is not None and rows > 0:
        found["outputFacets"] = {
            "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                rowCount=rows, producer=PRODUCER
            )
        }
    return found


def singular_test_facet(execution: Mapping[str, Any]) -> Any | None:
    """A ``test`` run facet (TestRunFacet) of one test execution; None on older clients."""
    try:
        test_run = importlib.import_module("openlineage.client.facet_v2.test_run")
    except ImportError:  # pragma: no cover - openlineage-python before TestRunFacet
        return None
    known = attr.fields_dict(test_run.TestExecution)
    return test_run.TestRunFacet(
        tests=[test_run.TestExecution(**{k: v for k, v in execution.items() if k in known})],
        producer=PRODUCER,
    )


def run_event(
    state: RunState,
    *,
    run_id: str,
    namespace: str,
    job_name: str,
    event_time: str,
    parent: Parent | None = None,
    resource_type: str | None = None,
    sql: str | None = None,
    dialect: str | None = None,
    inputs: Sequence[Mapping[str, Any]] = (),
    outputs: Sequence[Mapping[str, Any]] = (),
    error: str | None = None,
    assertions: Sequence[Mapping[str, Any]] = (),
    run_facets: Mapping[str, Any] | None = None,
) -> RunEvent:
    """One RunEvent; ``assertions`` go on the first input as ``dataQualityAssertions``.

    An assertion is a mapping of the facet's fields (``assertion``, ``success``, ``name``,
    ``column``, ``severity``, ``actual``, ``expected``); fields an older client does not know
    are left out.
    """
    job_facets: dict[str, Any] = {
        "jobType": job_type_job.JobTypeJobFacet(
            processingType="BATCH",
            integration="DBT",
            jobType=_JOB_TYPES.get(resource_type or "", "JOB"),
            producer=PRODUCER,
        )
    }
    if sql:
        job_facets["sql"] = sql_job.SQLJobFacet(query=sql, dialect=dialect, producer=PRODUCER)
    facets = {**_engine_facets("dbt", _dbt_version(), error, "SQL"), **(run_facets or {})}
    if parent is not None:
        facets["parent"] = parent.facet()
    input_datasets = [
        InputDataset(namespace=item["namespace"], name=item["name"], facets=dict(item["facets"]))
        for item in inputs
    ]
    if assertions and input_datasets:
        input_datasets[0].inputFacets = {"dataQualityAssertions": _assertions_facet(assertions)}
    event = RunEvent(
        eventType=state,
        eventTime=event_time,
        run=Run(runId=run_id, facets=facets),
        job=Job(namespace=namespace, name=job_name, facets=job_facets),
        inputs=input_datasets,
        outputs=[
            OutputDataset(
                namespace=item["namespace"],
                name=item["name"],
                facets=dict(item["facets"]),
                outputFacets=dict(item.get("outputFacets") or {}),
            )
            for item in outputs
        ],
        producer=PRODUCER,
    )
    _clean(event)
    return event


def orchestrator_event(
    state: RunState,
    *,
    run_id: str,
    namespace: str,
    job_name: str,
    event_time: str,
    error: str | None = None,
) -> RunEvent:
    """One RunEvent of the Dagster run itself: the root of every dbt invocation it makes.

    No parent, no datasets (its dbt invocations and their nodes carry those); the job type and
    processing engine name Dagster, as the nodes' name dbt.
    """
    import dagster

    facets = _engine_facets("dagster", dagster.__version__, error, "python")
    event = RunEvent(
        eventType=state,
        eventTime=event_time,
        run=Run(runId=run_id, facets=facets),
        job=Job(
            namespace=namespace,
            name=job_name,
            facets={
                "jobType": job_type_job.JobTypeJobFacet(
                    processingType="BATCH", integration="DAGSTER", jobType="JOB", producer=PRODUCER
                )
            },
        ),
        producer=PRODUCER,
    )
    _clean(event)
    return event


def _engine_facets(engine: str, version: str, error: str | None, language: str) -> dict[str, Any]:
    """The run facets every event has (the processing engine) and a FAIL's ``errorMessage``."""
    facets: dict[str, Any] = {
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            version=version, name=engine, openlineageAdapterVersion=__version__, producer=PRODUCER
        )
    }
    if error is not None:
        facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=error, programmingLanguage=language, producer=PRODUCER
        )
    return facets


def _assertions_facet(
    assertions: Sequence[Mapping[str, Any]],
) -> data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet:
    quality = data_quality_assertions_dataset
    known = attr.fields_dict(quality.Assertion)
    return quality.DataQualityAssertionsDatasetFacet(
        assertions=[
            quality.Assertion(**{k: v for k, v in item.items() if k in known and v is not None})
            for item in assertions
        ],
        producer=PRODUCER,
    )


def _clean(value: Any) -> Any:
    """``value`` with every string in it (attrs objects, dicts, lists) cleaned in place."""
    if isinstance(value, str):
        return strip_ansi(value) if ("\x1b" in value or "\x9b" in value) else value
    if isinstance(value, dict):
        for key, item in value.items():
            value[key] = _clean(item)
    elif isinstance(value, list):
        value[:] = [_clean(item) for item in value]
    elif attr.has(type(value)):
        for field in attr.fields(type(value)):
            current = getattr(value, field.name)
            cleaned = _clean(current)
            if cleaned is not current:
                object.__setattr__(value, field.name, cleaned)
    return value


@functools.cache
def _dbt_version() -> str:
    """dbt-core's version, read once per process (a metadata lookup costs about 1 ms)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dbt-core")
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"
