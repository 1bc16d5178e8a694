"""What the lineage page shows, folded from the log's events in one streaming pass.

* Datasets and jobs are keyed by ``(namespace, name)``. An edge is an input dataset → its job,
  or a job → its output dataset, as any event of the log names it.
* A run is a ``runId``: its job, its first and last event times, its last state (``running``
  until a COMPLETE, FAIL or ABORT, ``unfinished`` when its parent run ended first, ``skipped``
  for a FAIL that says dbt skipped it), the error message of a FAIL, and its parent (the
  ``parent`` run facet, with the root run when given).
* A job that is some other run's parent is no node of the graph: the dbt invocation
  ``dbt-run-<project>`` (the parent of node runs) is a run to pick from; the Dagster run above
  it (its own events, or only named by the ``parent`` facets of a log written before it had
  them) is the root of the parent chain.
* A dataset's columns are the latest ``schema`` facet's fields; their classifications the
  latest ``columnClassification`` facet's; their input columns (column lineage) the latest
  ``columnLineage`` facet's, which also adds the columns it names that no schema listed (and
  keeps them when a later ``schema`` facet lists only the documented ones); a column another
  dataset's lineage reads is a column of the dataset it is read from (a seed's, say).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["Column", "Dataset", "Graph", "Job", "Run", "build_graph"]

_TERMINAL = {"COMPLETE": "complete", "FAIL": "failed", "ABORT": "aborted"}
_SKIPPED_MARK = "dbt skipped it"

Key = tuple[str, str]


@dataclass
class Column:
    """One column of a dataset, with its classification when it has one."""

    name: str
    type: str | None = None
    description: str | None = None
    classification: str | None = None
    sensitivity: str | None = None
    pii_type: str | None = None
    #: The input columns it is made from, ``(dataset, column, subtype)``; None when not known.
    inputs: list[tuple[Key, str, str]] | None = None

    @property
    def pii(self) -> bool:
        """Whether the column holds personal data (classification ``pii`` or a PII type)."""
        return bool(self.pii_type) or (self.classification or "").lower() == "pii"


@dataclass
class Dataset:
    """A dataset node."""

    key: Key
    columns: dict[str, Column] = field(default_factory=dict)


@dataclass
class Job:
    """A job node (or a parent job, when it has no dataset)."""

    key: Key
    job_type: str | None = None
    runs: list[str] = field(default_factory=list)


@dataclass
class Run:
    """One run of a job."""

    run_id: str
    job: Key
    started: str | None = None
    ended: str | None = None
    state: str = "running"
    error: str | None = None
    parent: tuple[str, Key] | None = None
    root: tuple[str, Key] | None = None

    @property
    def seconds(self) -> float | None:
        """The run's duration (START to its last state), when both are known."""
        if self.started is None or self.ended is None:
            return None
        try:
            return (_time(self.ended) - _time(self.started)).total_seconds()
        except ValueError:
            return None


@dataclass
class Graph:
    """Everything the page needs, in the order the log named it."""

    datasets: dict[Key, Dataset] = field(default_factory=dict)
    jobs: dict[Key, Job] = field(default_factory=dict)
    edges: dict[tuple[str, Key, Key], None] = field(default_factory=dict)
    runs: dict[str, Run] = field(default_factory=dict)
    events: int = 0

    @property
    def parent_runs(self) -> set[str]:
        """Run ids that are another run's parent (the dbt invocations)."""
        return {run.parent[0] for run in self.runs.values() if run.parent is not None}

    @property
    def invocation_runs(self) -> set[str]:
        """The parent runs of node runs (the dbt invocations; not the Dagster runs above them)."""
        parents = self.parent_runs
        return {
            run.parent[0]
            for run in self.runs.values()
            if run.parent is not None and run.run_id not in parents
        }

    def graph_jobs(self) -> list[Job]:
        """Jobs shown as nodes: every job with a dataset edge, or that is nobody's parent."""
        linked = {edge[2] for edge in self.edges if edge[0] == "in"}
        linked |= {edge[1] for edge in self.edges if edge[0] == "out"}
        parents = {self.runs[run].job for run in self.parent_runs if run in self.runs}
        return [job for job in self.jobs.values() if job.key in linked or job.key not in parents]

    def latest_run(self, job: Job) -> Run | None:
        """The run of ``job`` that started last (the log's order breaks ties)."""
        runs = [self.runs[run_id] for run_id in job.runs]
        if not runs:
            return None
        return max(enumerate(runs), key=lambda pair: (pair[1].started or "", pair[0]))[1]


def build_graph(events: Iterable[Mapping[str, Any]]) -> Graph:
    """Fold ``events`` (in log order) into a :class:`Graph`; unexpected shapes are ignored."""
    graph = Graph()
    for event in events:
        try:
            _fold(graph, event)
        except (KeyError, TypeError, AttributeError, ValueError):
            continue
        graph.events += 1
    for dataset in list(graph.datasets.values()):  # a column read is a column of what it reads
        for column in list(dataset.columns.values()):
            for key, name, _ in column.inputs or ():
                read = graph.datasets.get(key)
                if read is not None and name not in read.columns:
                    read.columns[name] = Column(name)
    for run in graph.runs.values():
        parent = graph.runs.get(run.parent[0]) if run.parent is not None else None
        if run.state == "running" and parent is not None and parent.state != "running":
            run.state = "unfinished"  # started, and its dbt run ended without its result
    return graph


def _fold(graph: Graph, event: Mapping[str, Any]) -> None:
    job_part, run_part = event["job"], event["run"]
    key: Key = (str(job_part["namespace"]), str(job_part["name"]))
    job = graph.jobs.get(key)
    if job is None:
        job = graph.jobs[key] = Job(key)
    job_type = ((job_part.get("facets") or {}).get("jobType") or {}).get("jobType")
    if job_type:
        job.job_type = str(job_type)
    run_id = str(run_part["runId"])
    run = graph.runs.get(run_id)
    if run is None:
        run = graph.runs[run_id] = Run(run_id, key)
        job.runs.append(run_id)
    _fold_run(run, event, run_part.get("facets") or {})
    for item in event.get("inputs") or []:
        dataset = _fold_dataset(graph, item)
        graph.edges[("in", dataset, key)] = None
    for item in event.get("outputs") or []:
        dataset = _fold_dataset(graph, item)
        graph.edges[("out", key, dataset)] = None


def _fold_run(run: Run, event: Mapping[str, Any], facets: Mapping[str, Any]) -> None:
    kind = str(event.get("eventType"))
    when = str(event.get("eventTime") or "") or None
    if kind == "START":
        run.started = run.started or when
    else:
        run.ended = when
        if run.started is None:
            run.started = when
    if kind in _TERMINAL:
        run.state = _TERMINAL[kind]
    message = (facets.get("errorMessage") or {}).get("message")
    if message:
        run.error = str(message)
        if run.state == "failed" and str(message).startswith(_SKIPPED_MARK):
            run.state = "skipped"
    parent = facets.get("parent")
    if isinstance(parent, Mapping):
        run.parent = _run_ref(parent)
        root = parent.get("root")
        if isinstance(root, Mapping):
            run.root = _run_ref(root)


def _run_ref(facet: Mapping[str, Any]) -> tuple[str, Key]:
    job = facet["job"]
    return str(facet["run"]["runId"]), (str(job["namespace"]), str(job["name"]))


def _fold_dataset(graph: Graph, item: Mapping[str, Any]) -> Key:
    key: Key = (str(item["namespace"]), str(item["name"]))
    dataset = graph.datasets.get(key)
    if dataset is None:
        dataset = graph.datasets[key] = Dataset(key)
    facets = item.get("facets") or {}
    fields = (facets.get("schema") or {}).get("fields")
    if isinstance(fields, list) and fields:
        known = dataset.columns
        dataset.columns = {}
        for entry in fields:
            name = str(entry["name"])
            old = known.get(name)
            column = Column(name, entry.get("type"), entry.get("description"))
            if old is not None:
                column.classification, column.sensitivity = old.classification, old.sensitivity
                column.pii_type, column.inputs = old.pii_type, old.inputs
            dataset.columns[name] = column
        for name, old in known.items():  # columns known from column lineage, not documented
            if old.inputs is not None and name not in dataset.columns:
                dataset.columns[name] = old
    classified = (facets.get("columnClassification") or {}).get("columns")
    if isinstance(classified, Mapping):
        for name, value in classified.items():
            column = dataset.columns.setdefault(str(name), Column(str(name)))
            column.classification = str(value.get("classification") or "") or None
            column.sensitivity = str(value.get("sensitivity") or "") or None
            column.pii_type = str(value.get("piiType") or "") or None
    traced = (facets.get("columnLineage") or {}).get("fields")
    if isinstance(traced, Mapping):
        for name, value in traced.items():
            column = dataset.columns.setdefault(str(name), Column(str(name)))
            column.inputs = [_input(one) for one in value.get("inputFields") or []]
    return key


def _input(field: Mapping[str, Any]) -> tuple[Key, str, str]:
    kinds = [t.get("subtype") for t in field.get("transformations") or [] if isinstance(t, dict)]
    subtype = str(next((kind for kind in kinds if kind), "") or "")
    return (str(field["namespace"]), str(field["name"])), str(field["field"]), subtype


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
