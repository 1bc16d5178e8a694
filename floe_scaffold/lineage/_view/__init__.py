"""The self-contained lineage page of ``floe lineage`` (see ``_model``, ``_layout``, ``_page``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from floe_scaffold.lineage._log import LogReader
from floe_scaffold.lineage._view._model import build_graph
from floe_scaffold.lineage._view._page import page_data, write_page

__all__ = ["PageResult", "build_lineage_page"]


@dataclass(frozen=True)
class PageResult:
    """What was written: the page, its size, and what the log held."""

    out: Path
    size: int
    events: int
    skipped: int
    nodes: int
    edges: int
    runs: int


def build_lineage_page(log: Path, out: Path, *, title: str) -> PageResult:
    """Read the log at ``log`` (rotated files too, streaming) and write the page to ``out``."""
    reader = LogReader(log)
    graph = build_graph(reader.events())
    data = page_data(graph, source=str(log), skipped=reader.skipped)
    size = write_page(data, out, title=title)
    return PageResult(
        out,
        size,
        graph.events,
        reader.skipped,
        len(data["nodes"]),
        len(data["edges"]),
        len(data["runs"]),
    )
