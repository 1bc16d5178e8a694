"""A layered (Sugiyama) layout of the lineage graph, computed by igraph.

igraph's ``layout_sugiyama`` breaks cycles (Eades-Lin-Smyth), assigns layers by longest path,
orders each layer with the barycenter heuristic to reduce crossings, and places the vertices;
it is C code, so 10,000 vertices take well under a second. Layers run left to right here: a
dataset's producers are left of it, its consumers right.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["LAYER_GAP", "ROW_GAP", "layered_positions"]

#: Pixels between two layers (columns), and between two rows of a layer.
LAYER_GAP = 260
ROW_GAP = 44


def layered_positions(count: int, edges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """``(x, y)`` in pixels of each of ``count`` vertices, edges ``(from, to)`` by index."""
    if count == 0:
        return []
    import igraph  # type: ignore[import-untyped]

    graph = igraph.Graph(n=count, edges=list(edges), directed=True)
    layout = graph.layout_sugiyama(maxiter=50)
    coords = layout.coords[:count]
    return [(round(layer * LAYER_GAP), round(row * ROW_GAP)) for row, layer in coords]
