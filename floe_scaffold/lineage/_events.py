"""OpenLineage RunEvents for a dbt invocation and its nodes, built with the official client."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    data_quality_assertions_dataset,
    datasource_dataset,
    error_message_run,
    job_type_job,
    parent_run,
    processing_engine_run,
    schema_dataset,
    sql_job,
)

from floe_scaffold import __version__
from floe_scaffold.lineage._facets import ColumnClassification, ColumnClassificationDatasetFacet

__all__ = ["PRODUCER", "Parent", "dataset", "run_event", "utc"]

#: The ``producer`` of every event and facet: this package, at its version.
PRODUCER = f"https://pypi.org/project/floe-scaffold/{__version__}/"
_JOB_TYPES = {"model": "MODEL", "seed": "SEED", "snapshot": "SNAPSHOT", "test": "TEST"}


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


def dataset(
    namespace: str,
    name: str,
    *,
    columns: Mapping[str, Mapping[str, Any]] | None = None,
    classifications: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The facets of one dataset: data source, schema (from the manifest), classifications."""
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
    return {"namespace": namespace, "name": name, "facets": facets}


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
    assertions: Sequence[tuple[str, bool, str | None]] = (),
    run_facets: Mapping[str, Any] | None = None,
) -> RunEvent:
    """One RunEvent; ``assertions`` go on the first input as ``dataQualityAssertions``."""
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
    facets: dict[str, Any] = {
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            version=_dbt_version(),
            name="dbt",
            openlineageAdapterVersion=__version__,
            producer=PRODUCER,
        ),
        **(run_facets or {}),
    }
    if parent is not None:
        facets["parent"] = parent.facet()
    if error is not None:
        facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=error, programmingLanguage="SQL", producer=PRODUCER
        )
    input_datasets = [
        InputDataset(namespace=item["namespace"], name=item["name"], facets=dict(item["facets"]))
        for item in inputs
    ]
    if assertions and input_datasets:
        quality = data_quality_assertions_dataset
        input_datasets[0].inputFacets = {
            "dataQualityAssertions": quality.DataQualityAssertionsDatasetFacet(
                assertions=[
                    quality.Assertion(assertion=name, success=success, column=column)
                    for name, success, column in assertions
                ],
                producer=PRODUCER,
            )
        }
    return RunEvent(
        eventType=state,
        eventTime=event_time,
        run=Run(runId=run_id, facets=facets),
        job=Job(namespace=namespace, name=job_name, facets=job_facets),
        inputs=input_datasets,
        outputs=[
            OutputDataset(
                namespace=item["namespace"], name=item["name"], facets=dict(item["facets"])
            )
            for item in outputs
        ],
        producer=PRODUCER,
    )


def _dbt_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dbt-core")
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"
