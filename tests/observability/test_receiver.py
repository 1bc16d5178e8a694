"""The lineage test infrastructure, proven with the real openlineage-python client.

The validator must accept what the client builds and reject each kind of broken event; the receiver
must answer like Marquez; the failure endpoints must fail the way their names say, fast, with the
tuned ``http`` transport (timeout, no retry).
"""

from __future__ import annotations

import gzip
import http.client
import json
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import attr
import pytest
import requests
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    BaseFacet,
    DatasetFacet,
    data_quality_assertions_dataset,
    datasource_dataset,
    error_message_run,
    job_type_job,
    output_statistics_output_dataset,
    parent_run,
    schema_dataset,
    sql_job,
)
from openlineage.client.serde import Serde
from openlineage.client.transport.http import HttpCompression, HttpConfig, HttpTransport
from openlineage.client.uuid import generate_new_uuid

from tests.helpers import OPENLINEAGE_SPEC_DIR
from tests.observability.conftest import FLOE_FACET_SCHEMA_DIR, floe_facet_schema_files
from tests.observability.lineage_receiver import (
    LINEAGE_PATH,
    EndpointUrl,
    LineageReceiver,
    OpenLineageValidator,
    hanging_endpoint,
    slow_drip_endpoint,
    tuned_http_transport,
)

pytestmark = pytest.mark.usefixtures("openlineage_env")

PRODUCER = "https://github.com/floe-scaffold/floe-scaffold/tree/main/tests"
WAREHOUSE = "duckdb:///tmp/warehouse.duckdb"

# --------------------------------------------------------------------------------------------------
# Events built with the client
# --------------------------------------------------------------------------------------------------


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


def new_run_id() -> str:
    return str(generate_new_uuid())


def full_event(
    event_type: RunState = RunState.START, run_id: str | None = None, *, failed: bool = False
) -> RunEvent:
    """A dbt-model-like RunEvent carrying every standard facet floe plans to emit."""
    parent_id = new_run_id()
    run_facets: dict[str, Any] = {
        "parent": parent_run.ParentRunFacet(
            run=parent_run.Run(runId=parent_id),
            job=parent_run.Job(namespace="dagster", name="floe_job"),
            root=parent_run.Root(
                run=parent_run.RootRun(runId=parent_id),
                job=parent_run.RootJob(namespace="dagster", name="floe_job"),
            ),
        )
    }
    if failed:
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message="Database Error in model orders",
            programmingLanguage="python",
            stackTrace="Traceback (most recent call last): ...",
        )
    return RunEvent(
        eventType=event_type,
        eventTime=now(),
        producer=PRODUCER,
        run=Run(runId=run_id or new_run_id(), facets=run_facets),
        job=Job(
            namespace="dbt",
            name="analytics.marts.jaffle.orders",
            facets={
                "jobType": job_type_job.JobTypeJobFacet(
                    processingType="BATCH", integration="DBT", jobType="MODEL"
                ),
                "sql": sql_job.SQLJobFacet(query="select * from raw.orders", dialect="duckdb"),
            },
        ),
        inputs=[
            InputDataset(
                namespace=WAREHOUSE,
                name="analytics.raw.orders",
                facets={
                    "dataSource": datasource_dataset.DatasourceDatasetFacet(
                        name=WAREHOUSE, uri=WAREHOUSE
                    ),
                    "schema": schema_dataset.SchemaDatasetFacet(
                        fields=[
                            schema_dataset.SchemaDatasetFacetFields(name="id", type="INTEGER"),
                            schema_dataset.SchemaDatasetFacetFields(
                                name="amount", type="DECIMAL", description="in EUR"
                            ),
                        ]
                    ),
                },
                inputFacets={
                    "dataQualityAssertions": (
                        data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
                            assertions=[
                                data_quality_assertions_dataset.Assertion(
                                    assertion="not_null", success=True, column="id"
                                ),
                                data_quality_assertions_dataset.Assertion(
                                    assertion="unique", success=False, column="id"
                                ),
                            ]
                        )
                    )
                },
            )
        ],
        outputs=[
            OutputDataset(
                namespace=WAREHOUSE,
                name="analytics.marts.orders",
                facets={
                    "schema": schema_dataset.SchemaDatasetFacet(
                        fields=[schema_dataset.SchemaDatasetFacetFields(name="id", type="INTEGER")]
                    )
                },
                outputFacets={
                    "outputStatistics": (
                        output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                            rowCount=10, size=2048
                        )
                    )
                },
            )
        ],
    )


def event_dict(*, failed: bool = True) -> dict[str, Any]:
    """:func:`full_event` as the JSON the client would send (FAIL, with ``errorMessage``)."""
    return Serde.to_dict(full_event(RunState.FAIL if failed else RunState.START, failed=failed))


@contextmanager
def tuned_client(url: str, timeout: float = 2.0) -> Iterator[OpenLineageClient]:
    """The real client on the tuned ``http`` transport; closed (pool released) on exit."""
    client = OpenLineageClient(transport=tuned_http_transport(url, timeout=timeout))
    try:
        yield client
    finally:
        client.close()


def http_request(
    url: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """One raw request to ``url``: the status and the JSON answer (None if the body is empty)."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    return response.status, (json.loads(data) if data else None)


def post_event(url: str, event: object) -> tuple[int, Any]:
    body = json.dumps(event).encode("utf-8")
    return http_request(url, "POST", LINEAGE_PATH, body, {"Content-Type": "application/json"})


# --------------------------------------------------------------------------------------------------
# Validator
# --------------------------------------------------------------------------------------------------


def test_validator_registers_the_whole_spec(lineage_validator: OpenLineageValidator) -> None:
    spec_files = [OPENLINEAGE_SPEC_DIR / "OpenLineage.json"]
    spec_files += sorted((OPENLINEAGE_SPEC_DIR / "facets").glob("*.json"))
    registered = set(lineage_validator.schema_files.values())
    assert set(spec_files) <= registered
    assert lineage_validator.core_id == "https://openlineage.io/spec/2-0-2/OpenLineage.json"
    error_message = "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json"
    assert lineage_validator.facet_keys(error_message) == {"errorMessage"}


def _facet_modules() -> list[ModuleType]:
    from openlineage.client import facet_v2

    return [value for value in vars(facet_v2).values() if isinstance(value, ModuleType)]


#: Facet classes of openlineage-python 1.54 whose ``_schemaURL`` is not in the spec snapshot: the
#: client emits DataQualityMetricsDatasetFacet 1-0-1, the snapshot has 1-0-0. The validator rejects
#: such a facet (unknown _schemaURL); emit the input variant (DataQualityMetricsInputDatasetFacet).
KNOWN_DRIFT = {
    "https://openlineage.io/spec/facets/1-0-1/DataQualityMetricsDatasetFacet.json"
    "#/$defs/DataQualityMetricsDatasetFacet"
}


def test_every_client_facet_schema_url_resolves(lineage_validator: OpenLineageValidator) -> None:
    """Drift between the installed client and the spec snapshot is exactly :data:`KNOWN_DRIFT`."""
    resolved: list[str] = []
    drifted: set[str] = set()
    for module in _facet_modules():
        for value in vars(module).values():
            if not (
                isinstance(value, type)
                and issubclass(value, BaseFacet)
                and value.__module__ == module.__name__
            ):
                continue
            url = value._get_schema()
            if url.partition("#")[0] not in lineage_validator.schema_ids:
                drifted.add(url)
                continue
            lineage_validator.registry.resolver().lookup(url)  # raises if the fragment is wrong
            resolved.append(url)
    assert drifted == KNOWN_DRIFT
    assert len(resolved) >= 30


@pytest.mark.parametrize("failed", [False, True], ids=["start", "fail"])
def test_client_built_event_is_valid(lineage_validator: OpenLineageValidator, failed: bool) -> None:
    event = event_dict(failed=failed)
    assert lineage_validator.errors(event) == []
    lineage_validator.assert_valid(event)


def test_quality_assertions_are_accepted_under_facets_too(
    lineage_validator: OpenLineageValidator,
) -> None:
    """dbt-ol copies dataQualityAssertions into the dataset's ``facets``; the key still matches."""
    event = event_dict()
    dataset = event["inputs"][0]
    dataset["facets"]["dataQualityAssertions"] = dataset["inputFacets"]["dataQualityAssertions"]
    assert lineage_validator.errors(event) == []


class Broken(NamedTuple):
    id: str
    breaks: Callable[[dict[str, Any]], object]
    expected: str  # one of the error strings must contain this


def _move_facet(facets: dict[str, Any], source: str, target: str) -> None:
    facets[target] = facets.pop(source)


def _set(container: dict[str, Any], key: str, value: object) -> None:
    container[key] = value


DRIFTED_SCHEMA = "https://openlineage.io/spec/facets/9-9-9/SchemaDatasetFacet.json"
SQL_SCHEMA = "https://openlineage.io/spec/facets/1-1-0/SQLJobFacet.json"

BROKEN = [
    Broken("missing-run-id", lambda e: e["run"].pop("runId"), "$.run: 'runId' is a required"),
    Broken(
        "bad-event-type",
        lambda e: _set(e, "eventType", "FINISHED"),
        "$.eventType: 'FINISHED' is not one of ['START',",
    ),
    Broken(
        "non-uuid-run-id",
        lambda e: _set(e["run"], "runId", "run-42"),
        "$.run.runId: 'run-42' is not a 'uuid'",
    ),
    Broken(
        "bad-date-time",
        lambda e: _set(e, "eventTime", "2026-02-30T10:00:00Z"),
        "$.eventTime: '2026-02-30T10:00:00Z' is not a 'date-time'",
    ),
    Broken(
        "naive-date-time",  # datetime.now().isoformat(): the client accepts it, the spec does not
        lambda e: _set(e, "eventTime", "2026-01-01T10:00:00"),
        "$.eventTime: '2026-01-01T10:00:00' is not a 'date-time'",
    ),
    Broken("missing-producer", lambda e: e.pop("producer"), "$: 'producer' is a required property"),
    Broken("missing-job", lambda e: e.pop("job"), "$: 'job' is a required property"),
    Broken(
        "facet-missing-required-field",
        lambda e: e["run"]["facets"]["errorMessage"].pop("programmingLanguage"),
        "$.run.facets.errorMessage: 'programmingLanguage' is a required property",
    ),
    Broken(
        "facet-missing-producer",
        lambda e: e["job"]["facets"]["sql"].pop("_producer"),
        "$.job.facets.sql: '_producer' is a required property",
    ),
    Broken(
        "facet-under-wrong-key",
        lambda e: _move_facet(e["job"]["facets"], "sql", "jobType"),
        f"$.job.facets.jobType: facet key 'jobType' is not declared by {SQL_SCHEMA}",
    ),
    Broken(
        "unknown-schema-url",
        lambda e: _set(
            e["outputs"][0]["facets"]["schema"], "_schemaURL", DRIFTED_SCHEMA + "#/$defs/X"
        ),
        f"$.outputs[0].facets.schema: unknown _schemaURL '{DRIFTED_SCHEMA}#/$defs/X'",
    ),
    Broken(
        "schema-url-fragment-points-nowhere",
        lambda e: _set(e["job"]["facets"]["sql"], "_schemaURL", SQL_SCHEMA + "#/$defs/Nope"),
        f"$.job.facets.sql: _schemaURL '{SQL_SCHEMA}#/$defs/Nope' points at nothing",
    ),
    Broken(
        "dataset-facet-wrong-type",
        lambda e: _set(e["outputs"][0]["facets"]["schema"]["fields"][0], "name", 3),
        "$.outputs[0].facets.schema.fields[0].name: 3 is not of type 'string'",
    ),
    Broken(
        "input-facet-missing-field",
        lambda e: e["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"][0].pop(
            "success"
        ),
        "$.inputs[0].inputFacets.dataQualityAssertions.assertions[0]: 'success' is a required",
    ),
    Broken(
        "output-facet-wrong-type",
        lambda e: _set(e["outputs"][0]["outputFacets"]["outputStatistics"], "rowCount", "ten"),
        "$.outputs[0].outputFacets.outputStatistics.rowCount: 'ten' is not of type 'integer'",
    ),
]


def _broken_event(case: Broken) -> dict[str, Any]:
    event = event_dict()
    case.breaks(event)
    return event


def _assert_reported(errors: list[str], expected: str) -> None:
    assert any(expected in error for error in errors), f"{expected!r} not in {errors}"


@pytest.mark.parametrize("case", BROKEN, ids=[case.id for case in BROKEN])
def test_validator_rejects(lineage_validator: OpenLineageValidator, case: Broken) -> None:
    errors = lineage_validator.errors(_broken_event(case))
    _assert_reported(errors, case.expected)
    with pytest.raises(AssertionError, match="invalid OpenLineage event"):
        lineage_validator.assert_valid(_broken_event(case))


def test_validator_rejects_non_objects(lineage_validator: OpenLineageValidator) -> None:
    assert lineage_validator.errors([]) == ["$: an event must be a JSON object, not list"]


# --------------------------------------------------------------------------------------------------
# Custom facet schemas (floe's ColumnClassificationDatasetFacet will be registered like this)
# --------------------------------------------------------------------------------------------------

CUSTOM_ID = "https://floe.example/spec/facets/1-0-0/TestClassificationDatasetFacet.json"
CUSTOM_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": CUSTOM_ID,
    "$defs": {
        "TestClassificationDatasetFacet": {
            "allOf": [
                {"$ref": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetFacet"},
                {
                    "type": "object",
                    "properties": {
                        "columns": {
                            "type": "object",
                            "additionalProperties": {"enum": ["public", "pii", "secret"]},
                        }
                    },
                    "required": ["columns"],
                },
            ],
            "type": "object",
        }
    },
    "type": "object",
    "properties": {"testClassification": {"$ref": "#/$defs/TestClassificationDatasetFacet"}},
}


@attr.define
class TestClassificationDatasetFacet(DatasetFacet):
    """A custom facet the way floe defines one: a client facet class with its own schema URL."""

    __test__ = False  # not a pytest test class

    columns: dict[str, str] = attr.field(factory=dict)

    @staticmethod
    def _get_schema() -> str:
        return CUSTOM_ID + "#/$defs/TestClassificationDatasetFacet"


@pytest.fixture(scope="module")
def custom_schema_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("facets") / "TestClassificationDatasetFacet.json"
    path.write_text(json.dumps(CUSTOM_SCHEMA), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def custom_validator(custom_schema_file: Path) -> OpenLineageValidator:
    return OpenLineageValidator(extra_schema_files=[custom_schema_file])


def classified_event(columns: dict[str, str]) -> dict[str, Any]:
    event = full_event()
    assert event.outputs
    facets = event.outputs[0].facets
    assert facets is not None
    facets["testClassification"] = TestClassificationDatasetFacet(columns=columns)
    return Serde.to_dict(event)


def test_custom_facet_schema_is_registered(
    custom_validator: OpenLineageValidator, lineage_validator: OpenLineageValidator
) -> None:
    event = classified_event({"id": "public", "email": "pii"})
    assert custom_validator.errors(event) == []
    # Without the schema file, the same facet is an unknown _schemaURL.
    _assert_reported(lineage_validator.errors(event), f"unknown _schemaURL '{CUSTOM_ID}#/$defs/")


def test_custom_facet_content_is_validated(custom_validator: OpenLineageValidator) -> None:
    errors = custom_validator.errors(classified_event({"email": "confidential"}))
    _assert_reported(
        errors, "$.outputs[0].facets.testClassification.columns.email: 'confidential' is not one of"
    )


@pytest.fixture
def mini_spec(tmp_path: Path) -> Path:
    """A spec directory with only the core schema: loads in a few milliseconds."""
    (tmp_path / "spec" / "facets").mkdir(parents=True)
    shutil.copy(OPENLINEAGE_SPEC_DIR / "OpenLineage.json", tmp_path / "spec")
    return tmp_path / "spec"


def test_schema_files_need_a_unique_id(
    mini_spec: Path, custom_schema_file: Path, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="already registered"):
        OpenLineageValidator(mini_spec, extra_schema_files=[custom_schema_file, custom_schema_file])
    anonymous = tmp_path / "Anonymous.json"
    anonymous.write_text(json.dumps({"type": "object"}), encoding="utf-8")
    with pytest.raises(ValueError, match="needs an absolute `\\$id`"):
        OpenLineageValidator(mini_spec, extra_schema_files=[anonymous])


def test_floe_facet_schemas_are_registered(lineage_validator: OpenLineageValidator) -> None:
    files = floe_facet_schema_files()
    assert len(files) >= 2, f"floe's facet schemas are missing from {FLOE_FACET_SCHEMA_DIR}"
    assert set(files) <= set(lineage_validator.schema_files.values())


# --------------------------------------------------------------------------------------------------
# Receiver + the real client
# --------------------------------------------------------------------------------------------------


def test_client_events_arrive_and_validate(lineage_receiver: LineageReceiver) -> None:
    run_id = new_run_id()
    started = time.time()
    with tuned_client(lineage_receiver.url) as client:
        client.emit(full_event(RunState.START, run_id))
        client.emit(full_event(RunState.COMPLETE, run_id))
    events = lineage_receiver.wait_for(2, timeout=5)

    assert lineage_receiver.invalid == []
    assert [event["eventType"] for event in events] == ["START", "COMPLETE"]
    assert {event["run"]["runId"] for event in events} == {run_id}
    first = events[0]
    assert first["producer"] == PRODUCER
    assert first["job"]["name"] == "analytics.marts.jaffle.orders"
    assert set(first["job"]["facets"]) >= {"jobType", "sql"}
    # The client adds a `tags` run facet (its own version) to every RunEvent.
    assert set(first["run"]["facets"]) >= {"parent", "tags"}
    assertion = first["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"][1]
    assert assertion.items() >= {"assertion": "unique", "success": False, "column": "id"}.items()
    assert first["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == 10

    received_at = lineage_receiver.received_at
    assert len(received_at) == 2
    assert started <= received_at[0] <= received_at[1] <= time.time()
    assert [(hit.method, hit.path, hit.status) for hit in lineage_receiver.hits] == [
        ("POST", LINEAGE_PATH, 201)
    ] * 2
    assert http_request(lineage_receiver.url, "GET", "/events") == (200, events)


def test_fail_event_carries_error_message(lineage_receiver: LineageReceiver) -> None:
    with tuned_client(lineage_receiver.url) as client:
        client.emit(full_event(RunState.FAIL, failed=True))
    (event,) = lineage_receiver.wait_for(1)
    assert event["eventType"] == "FAIL"
    assert event["run"]["facets"]["errorMessage"]["programmingLanguage"] == "python"


def test_gzip_compressed_events_are_accepted(lineage_receiver: LineageReceiver) -> None:
    config = HttpConfig(
        url=lineage_receiver.url,
        timeout=2,
        retry={"total": 0, "connect": 0, "read": 0},
        compression=HttpCompression.GZIP,
    )
    client = OpenLineageClient(transport=HttpTransport(config))
    try:
        client.emit(full_event())
    finally:
        client.close()
    assert len(lineage_receiver.wait_for(1)) == 1


@pytest.mark.parametrize("case", BROKEN, ids=[case.id for case in BROKEN])
def test_receiver_answers_400(lineage_receiver: LineageReceiver, case: Broken) -> None:
    event = _broken_event(case)
    status, answer = post_event(lineage_receiver.url, event)
    assert status == 400
    _assert_reported(answer["errors"], case.expected)
    (rejected,) = lineage_receiver.invalid
    assert rejected.body == event
    _assert_reported(list(rejected.errors), case.expected)
    assert lineage_receiver.events == []


def test_client_raises_when_the_receiver_rejects(lineage_receiver: LineageReceiver) -> None:
    """The client checks little: a naive eventTime and a facet under a wrong key both go out."""
    event = full_event()
    event.eventTime = datetime.now().isoformat()  # naive: the point of the test
    assert event.job.facets is not None
    event.job.facets["sql"] = event.job.facets.pop("jobType")
    with tuned_client(lineage_receiver.url) as client, pytest.raises(requests.HTTPError) as info:
        client.emit(event)
    assert info.value.response is not None
    assert info.value.response.status_code == 400
    (rejected,) = lineage_receiver.invalid
    _assert_reported(list(rejected.errors), "$.eventTime:")
    _assert_reported(list(rejected.errors), "$.job.facets.sql: facet key 'sql' is not declared")
    assert lineage_receiver.events == []


def test_receiver_routes(lineage_receiver: LineageReceiver) -> None:
    url = lineage_receiver.url
    assert http_request(url, "GET", "/events") == (200, [])
    assert http_request(url, "GET", "/nowhere")[0] == 404
    assert http_request(url, "GET", LINEAGE_PATH)[0] == 405
    status, answer = http_request(url, "POST", LINEAGE_PATH, b"{not json", {})
    assert status == 400
    assert answer["errors"][0].startswith("$: body is not JSON")
    gzipped = gzip.compress(json.dumps(event_dict()).encode())
    assert http_request(url, "POST", LINEAGE_PATH, gzipped, {"Content-Encoding": "gzip"})[0] == 201
    invalid = http_request(url, "GET", "/invalid")[1]
    assert [item["body"] for item in invalid] == ["{not json"]
    assert len(lineage_receiver.events) == 1
    lineage_receiver.clear()
    assert lineage_receiver.events == []
    assert lineage_receiver.invalid == []
    assert lineage_receiver.hits == []


def test_wait_for_is_bounded(lineage_receiver: LineageReceiver) -> None:
    post_event(lineage_receiver.url, {"eventType": "START"})
    started = time.perf_counter()
    with pytest.raises(TimeoutError, match=r"0 of 1 valid OpenLineage events .* 1 were rejected"):
        lineage_receiver.wait_for(1, timeout=0.3)
    assert time.perf_counter() - started < 0.3 + SCHEDULING_SLACK


def test_receiver_stops_cleanly(lineage_validator: OpenLineageValidator) -> None:
    receiver = LineageReceiver(lineage_validator)
    with receiver:
        port = receiver.port
        assert post_event(receiver.url, event_dict())[0] == 201
    receiver.stop()  # idempotent
    with pytest.raises(RuntimeError, match="not running"):
        _ = receiver.url
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 1):
        pass
    assert len(receiver.events) == 1  # what arrived stays readable after stop


# --------------------------------------------------------------------------------------------------
# Failure modes, with the tuned transport (timeout, no retry)
# --------------------------------------------------------------------------------------------------


#: What a loaded 2-core machine may add to any short wait (a thread can stall for seconds).
SCHEDULING_SLACK = 5.0
#: The client timeout for failures that must not wait for it: long, so that "raised without
#: waiting for the timeout" (well under half of it) is told from "waited" on any machine.
LONG_TIMEOUT = 30.0


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """Measures the block: ``with stopwatch() as elapsed: ...`` then ``elapsed[0]`` seconds."""
    elapsed: list[float] = []
    started = time.perf_counter()
    try:
        yield elapsed
    finally:
        elapsed.append(time.perf_counter() - started)


def emit_and_fail(url: str, timeout: float, expected: type[Exception]) -> float:
    """Emit one event to ``url``; it must raise ``expected``. The seconds it took."""
    with tuned_client(url, timeout) as client, stopwatch() as elapsed, pytest.raises(expected):
        client.emit(full_event())
    return elapsed[0]


def test_refused_raises_fast(refused_url: str) -> None:
    assert emit_and_fail(refused_url, LONG_TIMEOUT, requests.ConnectionError) < LONG_TIMEOUT / 2


def test_unresolvable_raises_fast(unresolvable_url: str) -> None:
    """The host is rejected locally (no DNS server asked): see ``UNRESOLVABLE_URL``."""
    elapsed = emit_and_fail(unresolvable_url, LONG_TIMEOUT, requests.ConnectionError)
    assert elapsed < LONG_TIMEOUT / 2


def test_hanging_raises_after_the_timeout(hanging_url: str) -> None:
    """One connection (no retry), given up after the timeout, not before."""
    elapsed = emit_and_fail(hanging_url, 1, requests.ReadTimeout)
    assert 0.9 <= elapsed < 1 + SCHEDULING_SLACK
    assert isinstance(hanging_url, EndpointUrl)
    assert hanging_url.connections == 1


def test_error500_raises_without_retry(lineage_receiver: LineageReceiver) -> None:
    lineage_receiver.mode = "error500"
    elapsed = emit_and_fail(lineage_receiver.url, LONG_TIMEOUT, requests.HTTPError)
    assert elapsed < LONG_TIMEOUT / 2
    assert [hit.status for hit in lineage_receiver.hits] == [500]  # one attempt, no retry
    assert http_request(lineage_receiver.url, "GET", "/events")[0] == 500
    assert lineage_receiver.events == []


def test_error500_through_from_dict_is_a_retry_error(lineage_receiver: LineageReceiver) -> None:
    """``HttpConfig.from_dict`` (YAML/env config) merges retry over the defaults: 500 stays in
    ``status_forcelist``, so with total 0 the client raises ``RetryError``, not ``HTTPError``."""
    lineage_receiver.mode = "error500"
    config = HttpConfig.from_dict(
        {"url": lineage_receiver.url, "timeout": 2, "retry": {"total": 0, "connect": 0, "read": 0}}
    )
    client = OpenLineageClient(transport=HttpTransport(config))
    try:
        with pytest.raises(requests.exceptions.RetryError):
            client.emit(full_event())
    finally:
        client.close()
    assert [hit.status for hit in lineage_receiver.hits] == [500]


def test_garbage_raises_fast(garbage_url: str) -> None:
    assert emit_and_fail(garbage_url, LONG_TIMEOUT, requests.ConnectionError) < LONG_TIMEOUT / 2
    assert isinstance(garbage_url, EndpointUrl)
    assert garbage_url.connections == 1  # no retry


def test_slow_drip_outlasts_the_read_timeout() -> None:
    """A per-read timeout does not bound a request: 44 bytes, one per 40 ms, timeout 0.3 s."""
    with (
        slow_drip_endpoint(interval=0.04) as url,
        tuned_client(url, timeout=0.3) as client,
        stopwatch() as elapsed,
    ):
        client.emit(full_event())  # a valid 201, eventually
    assert elapsed[0] > 1.5


def test_slow_drip_is_bounded() -> None:
    """The endpoint cuts the drip at ``max_seconds``: the client sees the connection end early
    (an error, where the full 44-byte drip would be a valid 201 after about 2.2 s)."""
    with slow_drip_endpoint(interval=0.05, max_seconds=0.5) as url:
        elapsed = emit_and_fail(url, 2, requests.ConnectionError)
        assert url.connections == 1
    assert elapsed < 0.5 + SCHEDULING_SLACK


def test_hanging_endpoint_exits_fast_with_a_connection_open() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
        with stopwatch() as elapsed, hanging_endpoint() as url:
            parts = urlsplit(url)
            client.settimeout(0.3)
            client.connect((parts.hostname, parts.port))
            client.sendall(
                b"POST /api/v1/lineage HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
            )
            with pytest.raises(TimeoutError):
                client.recv(1)  # accepted, read, never answered
        # The 0.3 s recv + a bounded exit (about 2 s), not the endpoint's 300 s hold.
        assert elapsed[0] < 2.3 + SCHEDULING_SLACK
        client.settimeout(1)
        assert client.recv(1) == b""  # closed by the endpoint on exit
