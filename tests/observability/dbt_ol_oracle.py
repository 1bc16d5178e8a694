"""openlineage-dbt (dbt-ol) as the oracle of floe's lineage names, and the comparisons.

* :func:`dbt_ol_events` runs openlineage-dbt's own artifact processor (the code behind
  ``dbt-ol``'s default mode) on a manifest, a run result and a profile output;
  :func:`floe_events` feeds floe's :class:`LineageRecorder` the dbt events of the same run.
* :func:`shape` reduces events to what must be equal: per job, its events' types, inputs and
  outputs; :func:`assert_same_lineage` and :func:`assert_same_assertions` compare them.
* :func:`dbt_ol_profile` reads a ``profiles.yml`` the way dbt-ol does (its Jinja environment,
  ``env_var`` from the environment).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from openlineage.client.serde import Serde

# openlineage-dbt ships no type information.
from openlineage.common.provider.dbt.local import (  # type: ignore[import-untyped]
    DbtLocalArtifactProcessor,
)
from openlineage.common.provider.dbt.processor import (  # type: ignore[import-untyped]
    DbtArtifactProcessor,
    ModelNode,
)

from floe_scaffold.lineage._config import LineageTarget
from floe_scaffold.lineage._recorder import DagsterRun, LineageRecorder
from tests.observability.lineage_receiver import floe_lineage_validator

__all__ = [
    "NAMESPACE",
    "assert_same_assertions",
    "assert_same_lineage",
    "dbt_ol_events",
    "dbt_ol_profile",
    "executed",
    "floe_events",
    "ol_dataset_name",
    "ol_namespace",
    "quality_assertions",
    "run_results",
    "shape",
    "terminal",
]

#: The job namespace both sides are given.
NAMESPACE = "parity"
Names = tuple[tuple[str, str], ...]
Shape = dict[tuple[str, str], list[tuple[str, Names, Names]]]
_RESULT_EVENTS = {
    "model": "LogModelResult",
    "seed": "LogSeedResult",
    "snapshot": "LogSnapshotResult",
    "test": "LogTestResult",
}
#: What each dbt command executes.
_COMMANDS = {
    "build": set(_RESULT_EVENTS),
    "run": {"model"},
    "test": {"test"},
    "seed": {"seed"},
    "snapshot": {"snapshot"},
}


# -- both sides ---------------------------------------------------------------------------------


def executed(manifest: Mapping[str, Any], command: str = "build") -> list[dict[str, Any]]:
    """The nodes ``dbt <command>`` executes, data tests last."""
    kinds = _COMMANDS[command]
    nodes = [n for n in manifest["nodes"].values() if n["resource_type"] in kinds]
    return sorted(nodes, key=lambda node: node["resource_type"] == "test")


def _status(node: Mapping[str, Any]) -> str:
    return "pass" if node["resource_type"] == "test" else "success"


def run_results(
    manifest: Mapping[str, Any], command: str = "build", profiles_dir: Path | None = None
) -> dict[str, Any]:
    """A ``run_results.json`` in which every node ``command`` executes passed."""
    return {
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json",
            "dbt_version": manifest["metadata"].get("dbt_version", "1.11.0"),
            "invocation_id": str(uuid.uuid4()),
        },
        "args": {"which": command, "profiles_dir": str(profiles_dir or "")},
        "results": [
            {
                "unique_id": node["unique_id"],
                "status": _status(node),
                "timing": [],
                "failures": 0 if node["resource_type"] == "test" else None,
                "adapter_response": {},
            }
            for node in executed(manifest, command)
        ],
    }


class _Processor(DbtArtifactProcessor):  # type: ignore[misc]  # openlineage-dbt has no types
    """openlineage-dbt's processor with artifacts from memory instead of ``target/``."""

    def __init__(self, artifacts: tuple[Any, Any, Any, Any]) -> None:
        super().__init__(producer="https://example.invalid/dbt-ol", job_namespace=NAMESPACE)
        self._artifacts = artifacts

    def get_dbt_metadata(self) -> tuple[Any, Any, Any, Any]:
        return self._artifacts

    def dbt_run_run_facet(self) -> dict[str, Any]:
        return {}


def dbt_ol_events(
    manifest: Mapping[str, Any], results: Mapping[str, Any], profile: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """openlineage-dbt's events for one run, as JSON."""
    processor = _Processor((manifest, results, profile, None))
    return [json.loads(Serde.to_json(event)) for event in processor.parse().events()]


def ol_namespace(profile: Mapping[str, Any]) -> str:
    """openlineage-dbt's dataset namespace of a profile output."""
    processor = _Processor((None, None, None, None))
    processor.extract_adapter_type(profile)
    return str(processor.extract_namespace(profile))


def ol_dataset_name(node: Mapping[str, Any]) -> str:
    """openlineage-dbt's dataset name of a manifest node (model, seed, snapshot or source)."""
    processor = _Processor((None, None, None, None))
    kind = "source" if node["resource_type"] == "source" else "model"
    return str(processor.extract_dataset_data(ModelNode(kind, dict(node)), None)[1])


def dbt_ol_profile(profiles_dir: Path, profile: str, target: str = "dev") -> Any:
    """One output of ``profiles.yml``, read as dbt-ol reads it (values rendered lazily)."""
    loader = DbtLocalArtifactProcessor.__new__(DbtLocalArtifactProcessor)
    loader.jinja_environment = None
    document = loader.load_yaml_with_jinja(str(profiles_dir / "profiles.yml"))
    return document[profile]["outputs"][target]


def floe_events(
    manifest: Mapping[str, Any],
    output: Mapping[str, Any],
    events: Path,
    command: str = "build",
) -> list[dict[str, Any]]:
    """floe's recorder fed the dbt events of the run :func:`run_results` describes."""
    recorder = LineageRecorder(
        target=LineageTarget("file", str(events), NAMESPACE),
        manifest=manifest,
        profile_output=output,
        dbt_project_dir=events.parent,
        command=command,
        dagster_run=DagsterRun(str(uuid.uuid4()), "__ASSET_JOB"),
        classifications={},
    )
    recorder.start(None)
    for node in executed(manifest, command):
        info = {"unique_id": node["unique_id"], "node_started_at": "2026-01-01T00:00:00"}
        recorder.on_dbt_event({"info": {"name": "LogStartLine"}, "data": {"node_info": info}})
        status = _status(node)
        data: dict[str, Any] = {
            "status": status,
            "node_info": {**info, "node_finished_at": "2026-01-01T00:00:01", "node_status": status},
        }
        if node["resource_type"] == "test":
            data["num_failures"] = 0
        name = _RESULT_EVENTS[node["resource_type"]]
        recorder.on_dbt_event({"info": {"name": name}, "data": data})
    recorder.finish(success=True)
    assert recorder.flush(30)
    found = [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines()]
    for event in found:  # every event floe made for any target: valid OpenLineage
        floe_lineage_validator().assert_valid(event)
    # dbt-ol's wrapper, not its processor, sends the invocation's own job.
    return [e for e in found if not e["job"]["name"].startswith("dbt-run-")]


# -- comparing ----------------------------------------------------------------------------------


def _names(datasets: list[dict[str, Any]] | None) -> Names:
    return tuple(sorted((item["namespace"], item["name"]) for item in datasets or []))


def shape(events: list[dict[str, Any]]) -> Shape:
    """Per job ``(namespace, name)``: its events' types, inputs and outputs, in order."""
    jobs: Shape = {}
    for event in events:
        key = (event["job"]["namespace"], event["job"]["name"])
        jobs.setdefault(key, []).append(
            (event["eventType"], _names(event.get("inputs")), _names(event.get("outputs")))
        )
    return jobs


def _job_type(events: list[dict[str, Any]], key: tuple[str, str]) -> str:
    event = next(e for e in events if (e["job"]["namespace"], e["job"]["name"]) == key)
    return str(event["job"]["facets"]["jobType"]["jobType"])


def relations(manifest: Mapping[str, Any]) -> frozenset[str]:
    """The relations dbt renders for the project (``relation_name`` of every node and source,
    unquoted, lower case): what exists in the warehouse after a build. An ephemeral model has
    none; a source's is its ``identifier``."""
    found = set()
    for node in [*manifest["nodes"].values(), *manifest["sources"].values()]:
        name = node.get("relation_name")
        if name:
            found.add(_relation(name))
    return frozenset(found)


def _relation(name: str) -> str:
    return name.replace('"', "").replace("`", "").lower()


def _same_inputs(theirs: Names, ours: Names, existing: frozenset[str]) -> bool:
    """floe names relations that exist, and every input dbt-ol names that exists.

    Where dbt-ol names a dataset no relation has (an ephemeral model, a source by its logical
    name when its ``identifier`` differs), floe names the relations that stand for it instead.
    """
    if not all(_relation(name) in existing for _, name in ours):
        return False
    real = {
        (namespace, _relation(name)) for namespace, name in theirs if _relation(name) in existing
    }
    return real <= {(namespace, _relation(name)) for namespace, name in ours}


def assert_same_lineage(
    theirs: list[dict[str, Any]],
    ours: list[dict[str, Any]],
    seeds: Collection[str] = (),
    existing: frozenset[str] | None = None,
) -> None:
    """Every dbt-ol job is floe's with the same events, inputs and outputs.

    floe's only additions: seed jobs, and the test jobs of seeds (their input is a seed: the
    output of a seed job, or a dataset named in ``seeds`` when no seed ran). With ``existing``
    (:func:`relations`), inputs are compared as relations that exist (:func:`_same_inputs`).
    """
    expected, actual = shape(theirs), shape(ours)
    missing = sorted(set(expected) - set(actual))
    assert missing == [], f"jobs dbt-ol names and floe does not: {missing}"
    for key, events in expected.items():
        if existing is None:
            assert actual[key] == events, key
            continue
        assert [(kind, out) for kind, _, out in actual[key]] == [
            (kind, out) for kind, _, out in events
        ], key
        for (_, mine, _), (_, their, _) in zip(actual[key], events, strict=True):
            assert _same_inputs(their, mine, existing), (key, their, mine)
    added = sorted(set(actual) - set(expected))
    seed_jobs = {key for key in added if _job_type(ours, key) == "SEED"}
    seeded = {name for key in seed_jobs for _, _, outputs in actual[key] for _, name in outputs}
    seeded |= set(seeds)
    for key in set(added) - seed_jobs:
        assert _job_type(ours, key) == "TEST", key
        assert {name for _, inputs, _ in actual[key] for _, name in inputs} <= seeded, key


def terminal(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The COMPLETE or FAIL event of every job, by job name."""
    return {e["job"]["name"]: e for e in events if e["eventType"] in {"COMPLETE", "FAIL"}}


def quality_assertions(event: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``dataQualityAssertions`` of a test job's event, by test name."""
    facet = event["inputs"][0]["inputFacets"]["dataQualityAssertions"]
    return sorted(facet["assertions"], key=lambda a: str(a["name"]))


def assert_same_assertions(theirs: list[dict[str, Any]], ours: list[dict[str, Any]]) -> int:
    """Each test job's assertions (name, success, column, severity, actual…) equal dbt-ol's.

    Returns how many test jobs were compared.
    """
    mine = terminal(ours)
    compared = 0
    for name, event in terminal(theirs).items():
        if event["job"]["facets"]["jobType"]["jobType"] == "TEST" and event["inputs"]:
            facets = event["inputs"][0].get("inputFacets") or {}
            if "dataQualityAssertions" in facets:
                assert quality_assertions(mine[name]) == quality_assertions(event), name
                compared += 1
    return compared


def assert_column_lineage_contains(
    theirs: list[dict[str, Any]], ours: list[dict[str, Any]], existing: frozenset[str]
) -> int:
    """Where dbt-ol gives an output column's input columns, floe's contain them.

    Inputs are compared as relations that exist (as :func:`_same_inputs` does: dbt-ol may name
    a source by its logical name or an ephemeral model) and columns case-insensitively; floe's
    facet is schema-valid by the receiver's validator. Returns how many columns dbt-ol traced.
    """
    mine = terminal(ours)
    compared = 0
    for name, event in terminal(theirs).items():
        for output in event.get("outputs") or []:
            facet = (output.get("facets") or {}).get("columnLineage")
            if not facet:
                continue
            (own,) = [o for o in mine[name]["outputs"] if o["name"] == output["name"]]
            fields = {
                str(column).lower(): {
                    (_relation(one["name"]), str(one["field"]).lower())
                    for one in field["inputFields"]
                }
                for column, field in own["facets"]["columnLineage"]["fields"].items()
            }
            for column, field in facet["fields"].items():
                wanted = {
                    (_relation(one["name"]), str(one["field"]).lower())
                    for one in field["inputFields"]
                    if _relation(one["name"]) in existing
                }
                assert wanted <= fields.get(str(column).lower(), set()), (name, column, wanted)
                compared += 1
    return compared
