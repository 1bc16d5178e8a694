"""Runnable dbt projects of any size: real SQL over a seed, for runs at scale (not only loads).

``tests/manifests.py`` makes manifests that no warehouse can run; this makes a dbt project that
``dbt build`` runs, in the shape a mid-sized team has:

* one seed (``raw_events``, ``rows`` rows);
* ``layers`` layers of models: layer 0 are tables reading the seed, every later layer views
  over two parents of the layer before (so the DAG is wide and deep, and a view's query runs
  its whole chain): 100 tables and 900 views at 1,000 models, as issue 27 measured;
* a ``not_null`` test on every model's ``id``.

The project is written with a YAML library (``dbt_project.yml``, the schema files) and plain
SQL files; its profile (``profiles.yml`` beside it) is DuckDB or PostgreSQL.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = ["runnable_project"]


def _model_name(layer: int, index: int) -> str:
    return f"m{layer:02d}_{index:05d}"


def runnable_project(
    where: Path,
    *,
    models: int,
    layers: int = 10,
    rows: int = 100,
    name: str = "scale",
    profile: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> Path:
    """Write a runnable dbt project of ``models`` models into ``where``; return its folder.

    ``profile`` is the dbt profile output (default: a DuckDB file beside the project), written
    to ``where/profiles.yml`` under the profile ``name``.
    """
    if models < layers:
        raise ValueError(f"{models} models cannot fill {layers} layers")
    project = where
    (project / "models").mkdir(parents=True, exist_ok=True)
    (project / "seeds").mkdir(exist_ok=True)
    _write_yaml(
        project / "dbt_project.yml",
        {
            "name": name,
            "version": "1.0.0",
            "config-version": 2,
            "profile": name,
            "model-paths": ["models"],
            "seed-paths": ["seeds"],
            "models": {name: {"+materialized": "view"}},
        },
    )
    output = dict(profile or {"type": "duckdb", "path": "scale.duckdb", "threads": 4})
    _write_yaml(project / "profiles.yml", {name: {"target": "dev", "outputs": {"dev": output}}})
    lines = ["id,category,amount"]
    lines += [f"{n},{'abc'[n % 3]},{n * 7 % 101}" for n in range(1, rows + 1)]
    (project / "seeds" / "raw_events.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    picker = random.Random(seed)
    per_layer = [
        models // layers + (1 if index < models % layers else 0) for index in range(layers)
    ]
    documented: list[dict[str, Any]] = []
    previous: list[str] = []
    for layer, count in enumerate(per_layer):
        folder = project / "models" / f"layer_{layer:02d}"
        folder.mkdir(exist_ok=True)
        names = [_model_name(layer, index) for index in range(count)]
        for index, model in enumerate(names):
            if layer == 0:
                sql = (
                    "{{ config(materialized='table') }}\n"
                    f"select id, category, amount + {index} as amount\n"
                    "from {{ ref('raw_events') }}\n"
                )
            else:
                left, right = previous[index % len(previous)], picker.choice(previous)
                sql = (
                    "select a.id, a.category, a.amount + b.amount as amount\n"
                    f"from {{{{ ref('{left}') }}}} as a\n"
                    f"join {{{{ ref('{right}') }}}} as b on a.id = b.id\n"
                )
            (folder / f"{model}.sql").write_text(sql, encoding="utf-8")
            documented.append(
                {"name": model, "columns": [{"name": "id", "data_tests": ["not_null"]}]}
            )
        previous = names
    _write_yaml(project / "models" / "_models.yml", {"version": 2, "models": documented})
    return project


def _write_yaml(path: Path, document: Mapping[str, Any]) -> None:
    path.write_text(yaml.safe_dump(dict(document), sort_keys=False), encoding="utf-8")
