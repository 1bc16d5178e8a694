"""The lineage page: one HTML file with its data, styles and script inline (nothing fetched).

The page's data is one JSON document (:func:`page_data`) in a ``<script type=
"application/json">`` element, escaped so that no string in it can close the element; the
page's own script (``page.js``) draws the graph from it as SVG and handles search, zoom and pan,
the run picker and the details panel. Every part grows linearly with the graph: nodes, edges,
columns and their input columns, and per run a row for each node it ran (at most
:data:`MAX_RUNS` runs).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from floe_scaffold.lineage._view._layout import layered_positions
from floe_scaffold.lineage._view._model import Graph, Key, Run

__all__ = ["MAX_RUNS", "page_data", "render_page", "write_page"]

#: How many of the last dbt invocations the run picker offers.
MAX_RUNS = 20
_STATES = ("running", "complete", "failed", "skipped", "aborted", "unfinished")


class _Strings:
    """Error messages, each stored once and named by index."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self._index: dict[str, int] = {}

    def index(self, text: str | None) -> int:
        if text is None:
            return -1
        found = self._index.get(text)
        if found is None:
            found = self._index[text] = len(self.items)
            self.items.append(text)
        return found


def page_data(graph: Graph, *, source: str, skipped: int) -> dict[str, Any]:
    """The JSON document the page draws (see the module docstring)."""
    keys: list[tuple[str, Key]] = [("dataset", key) for key in graph.datasets]
    keys += [("job", job.key) for job in graph.graph_jobs()]
    index = {entry: position for position, entry in enumerate(keys)}
    edges: list[tuple[int, int]] = []
    for direction, left, right in graph.edges:
        if direction == "in":
            edges.append((index[("dataset", left)], index[("job", right)]))
        elif ("job", left) in index:
            edges.append((index[("job", left)], index[("dataset", right)]))
    positions = layered_positions(len(keys), edges)
    errors = _Strings()
    nodes = []
    for position, (kind, key) in enumerate(keys):
        x, y = positions[position]
        node: dict[str, Any] = {"k": kind, "ns": key[0], "n": key[1], "x": x, "y": y}
        if kind == "job":
            job = graph.jobs[key]
            node["t"] = job.job_type
            latest = graph.latest_run(job)
            if latest is not None:
                node["r"] = _node_run(latest, errors)
                node["h"] = len(job.runs)
        else:
            columns = graph.datasets[key].columns.values()
            node["c"] = [
                [
                    c.name,
                    c.type,
                    c.classification,
                    c.sensitivity,
                    c.pii_type,
                    int(c.pii),
                    _inputs(c.inputs, index),
                ]
                for c in columns
            ]
        nodes.append(node)
    return {
        "source": source,
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "events": graph.events,
        "skipped": skipped,
        "nodes": nodes,
        "edges": edges,
        "runs": _runs(graph, index, errors),
        "errors": errors.items,
        "states": list(_STATES),
        "subtypes": [name.lower() for name in _SUBTYPES],
    }


#: A column input's subtype, as the page stores it (the facet's DIRECT subtypes).
_SUBTYPES = {"IDENTITY": 0, "TRANSFORMATION": 1, "AGGREGATION": 2}


def _inputs(
    inputs: list[tuple[Key, str, str]] | None, index: Mapping[tuple[str, Key], int]
) -> list[list[Any]] | None:
    """A column's input columns as ``[node, column, subtype]`` (None: its lineage is unknown).

    ``node`` is the input dataset's position in ``nodes``; a dataset the graph does not show is
    ``-1`` with its ``namespace/name`` as a fourth item. ``subtype`` indexes ``subtypes``.
    """
    if inputs is None:
        return None
    found: list[list[Any]] = []
    for key, column, subtype in inputs:
        kind = _SUBTYPES.get(subtype, 1)
        position = index.get(("dataset", key))
        if position is None:
            found.append([-1, column, kind, f"{key[0]}/{key[1]}"])
        else:
            found.append([position, column, kind])
    return found


def _node_run(run: Run, errors: _Strings) -> list[Any]:
    """``[state, seconds, error, run id, started, parent, root]`` (a parent: ``[id, ns, name]``)."""
    return [
        run.state,
        run.seconds,
        errors.index(run.error),
        run.run_id,
        run.started,
        _ref(run.parent),
        _ref(run.root),
    ]


def _ref(ref: tuple[str, Key] | None) -> list[str] | None:
    return None if ref is None else [ref[0], ref[1][0], ref[1][1]]


def _runs(
    graph: Graph, index: Mapping[tuple[str, Key], int], errors: _Strings
) -> list[dict[str, Any]]:
    """The last :data:`MAX_RUNS` dbt invocations, newest first, each with its nodes' states."""
    parents = [graph.runs[run_id] for run_id in graph.invocation_runs if run_id in graph.runs]
    parents.sort(key=lambda run: run.started or "", reverse=True)
    chosen = {run.run_id: run for run in parents[:MAX_RUNS]}
    children: dict[str, list[list[Any]]] = {run_id: [] for run_id in chosen}
    for run in graph.runs.values():
        if run.parent is None or run.parent[0] not in chosen:
            continue
        node = index.get(("job", run.job))
        if node is not None:
            children[run.parent[0]].append(
                [node, run.state, run.seconds, errors.index(run.error), run.run_id, run.started]
            )
    return [
        {
            "id": run.run_id,
            "job": list(run.job),
            "state": run.state,
            "started": run.started,
            "seconds": run.seconds,
            "error": errors.index(run.error),
            "parent": _ref(run.parent),
            "nodes": children[run.run_id],
        }
        for run in chosen.values()
    ]


def _asset(name: str) -> str:
    return resources.files("floe_scaffold.lineage._view").joinpath(name).read_text("utf-8")


def _json_for_script(data: Mapping[str, Any]) -> str:
    """JSON that is safe inside ``<script>``: no ``<``, ``>`` or ``&`` appears raw."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def render_page(data: Mapping[str, Any], *, title: str) -> str:
    """The whole HTML page for ``data`` (Jinja2, autoescaped; the script and styles inline)."""
    from jinja2 import Environment, select_autoescape

    environment = Environment(
        autoescape=select_autoescape(default=True), keep_trailing_newline=True
    )
    template = environment.from_string(_asset("page.html"))
    return template.render(
        title=title,
        style=_safe(_asset("page.css")),
        script=_safe(_asset("page.js")),
        data=_safe(_json_for_script(data)),
    )


def _safe(text: str) -> Any:
    from markupsafe import Markup

    return Markup(text)  # noqa: S704 - our own files, and JSON escaped by _json_for_script


def write_page(data: Mapping[str, Any], out: Path, *, title: str) -> int:
    """Write the page to ``out`` atomically (beside it, then renamed); returns its size."""
    text = render_page(data, title=title).encode("utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    partial.write_bytes(text)
    partial.replace(out)
    return len(text)
