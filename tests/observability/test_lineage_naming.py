"""Dataset and job names for all 7 targets, from the profiles floe generates (dbt-ol's names)."""

from __future__ import annotations

from pathlib import Path

import pytest

from floe_scaffold.contract import CompiledArtifacts
from floe_scaffold.lineage import dataset_name, dataset_namespace, node_job_name
from floe_scaffold.profiles import Environment, build_profile
from tests.helpers import build_contract, contract_for

NODE = {"database": "analytics", "schema": "marts", "name": "orders", "alias": "orders_v2"}


def _output(target: str, **properties: object) -> dict[str, object]:
    data = contract_for(target)
    data["compute"]["properties"].update(properties)
    artifacts = CompiledArtifacts.model_validate(data)
    return dict(build_profile([Environment("dev", artifacts)]).outputs["dev"])


@pytest.mark.requirement("FR-014")
@pytest.mark.parametrize(
    ("target", "namespace", "name"),
    [
        ("postgres", "postgres://db.internal:5433", "analytics.marts.orders_v2"),
        ("snowflake", "snowflake://xy12345.us-east-1", "analytics.marts.orders_v2"),
        ("bigquery", "bigquery", "analytics.marts.orders_v2"),
        (
            "redshift",
            "redshift://cluster.abc.eu-west-1.redshift.amazonaws.com:5439",
            "analytics.marts.orders_v2",
        ),
        ("databricks", "databricks://adb-123.azuredatabricks.net", "analytics.marts.orders_v2"),
        ("spark", "spark://spark.internal:10000", "marts.orders_v2"),
    ],
)
def test_dataset_names_follow_dbt_ol(target: str, namespace: str, name: str) -> None:
    output = _output(target)
    assert dataset_namespace(target, output, Path("/project/dbt")) == namespace
    assert dataset_name(target, NODE) == name


def test_duckdb_names_the_database_file_by_absolute_path(tmp_path: Path) -> None:
    output = _output("duckdb", path="warehouse.duckdb")
    namespace = dataset_namespace("duckdb", output, tmp_path / "dbt")
    assert namespace == f"duckdb://{tmp_path / 'dbt' / 'warehouse.duckdb'}"
    assert dataset_namespace("duckdb", {"path": ":memory:"}, tmp_path) == "duckdb://:memory:"


def test_spark_http_defaults_to_port_443() -> None:
    output = _output("spark", method="http", cluster="c")
    assert dataset_namespace("spark", output, Path()) == "spark://spark.internal:443"


def test_settings_read_from_the_environment_are_resolved(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    artifacts = CompiledArtifacts.model_validate(
        build_contract(compute={"target": "postgres", "properties": {}})
    )
    output = build_profile([Environment("dev", artifacts)]).outputs["dev"]
    monkeypatch.setenv("FLOE_POSTGRES_HOST", "pg.example")
    assert dataset_namespace("postgres", output, Path()) == "postgres://pg.example:5432"
    monkeypatch.delenv("FLOE_POSTGRES_HOST")
    assert dataset_namespace("postgres", output, Path()) == (
        "postgres://${FLOE_POSTGRES_HOST}:5432"
    )


@pytest.mark.parametrize(
    ("resource", "command", "job"),
    [
        ("model", "build", "analytics.marts.shop.orders.build.run"),
        ("seed", "build", "analytics.marts.shop.orders.build.seed"),
        ("snapshot", "build", "analytics.marts.shop.orders.build.snapshot"),
        ("test", "build", "analytics.marts.shop.orders.build.test"),
        ("model", "run", "analytics.marts.shop.orders.run"),
    ],
)
def test_job_names_follow_dbt_ol(resource: str, command: str, job: str) -> None:
    node = {**NODE, "resource_type": resource}
    assert node_job_name(node, "shop", command) == job
