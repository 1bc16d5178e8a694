"""In which order one run's dbt nodes must be built when a source reads what the project makes.

One ``dbt build`` orders its nodes by dbt's DAG, where a source has no parent: a model reading
a source over a seed's table may run before the seed (on an empty warehouse it then fails; on a
full one it reads last run's rows). When the run selects such a producer (``_relations``) and a
node that reads its relation through the source (directly, through ephemeral models, or as a
test on the source), and dbt does not already order them (the producer is not an ancestor of the
reader, e.g. through a ``-- depends_on: {{ ref(...) }}`` comment), dbt runs in stages: first the
producers and what they need from the run's selection, then the rest.

Each node gets a stage: a producer the stage before its readers, any other node the latest stage
its own readers allow (so the first stages hold only what must come first), a test the stage
right after its last parent is built. ``plan_stages`` returns None when one stage does (then the
run is one dbt invocation, as without floe).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from floe_scaffold._relations import is_ephemeral, produced_sources

__all__ = ["StagePlan", "plan_stages"]


@dataclass(frozen=True)
class StagePlan:
    """The stages of one run, in order; the last is everything else the run selected.

    ``early`` holds, per stage before the last, the unique ids of its nodes (tests included);
    ``built_early`` every unique id placed in an early stage (to leave out of the last one);
    ``split_tests`` says whether a test of the last stage has a parent built in an early one.
    """

    early: tuple[tuple[str, ...], ...]
    built_early: frozenset[str]
    split_tests: bool


def _parents(manifest: Mapping[str, Any], unique_id: str) -> Sequence[str]:
    parent_map = manifest.get("parent_map")
    if isinstance(parent_map, Mapping) and unique_id in parent_map:
        return tuple(parent_map[unique_id] or ())
    node = (manifest.get("nodes") or {}).get(unique_id) or {}
    return tuple((node.get("depends_on") or {}).get("nodes") or ())


class _Graph:
    """The run's nodes and the edges that order them, weighted 1 where a source is crossed."""

    def __init__(
        self,
        manifest: Mapping[str, Any],
        selected: Collection[str],
        made_by: Mapping[str, Sequence[str]],
    ) -> None:
        self.manifest = manifest
        self.nodes: Mapping[str, Any] = manifest.get("nodes") or {}
        self.selected = frozenset(selected)
        self.made_by = {
            source: [maker for maker in makers if maker in self.selected]
            for source, makers in made_by.items()
        }
        self._through_ephemeral: dict[str, tuple[str, ...]] = {}

    def direct(self, unique_id: str) -> tuple[str, ...]:
        """The parents ordering ``unique_id``: selected nodes, made sources (through ephemerals)."""
        found: list[str] = []
        for parent in _parents(self.manifest, unique_id):
            node = self.nodes.get(parent)
            if node is not None and is_ephemeral(node):
                found.extend(self._ephemeral(parent))
            elif parent in self.selected or self.made_by.get(parent):
                found.append(parent)
        return tuple(dict.fromkeys(found))

    def _ephemeral(self, unique_id: str) -> tuple[str, ...]:
        known = self._through_ephemeral.get(unique_id)
        if known is None:
            self._through_ephemeral[unique_id] = ()  # a cycle (refused elsewhere) ends here
            known = self.direct(unique_id)
            self._through_ephemeral[unique_id] = known
        return known

    def ancestors(self, unique_id: str) -> set[str]:
        """Every node dbt builds before ``unique_id`` in one invocation (any path)."""
        seen: set[str] = set()
        todo = list(_parents(self.manifest, unique_id))
        while todo:
            parent = todo.pop()
            if parent not in seen:
                seen.add(parent)
                todo.extend(_parents(self.manifest, parent))
        return seen

    def edges(self, unique_id: str) -> Iterator[tuple[str, int]]:
        """(upstream node, weight) of each node that must be built before ``unique_id``."""
        ancestors: set[str] | None = None
        for parent in self.direct(unique_id):
            if parent in self.selected:
                yield parent, 0
            for maker in self.made_by.get(parent, ()):
                if ancestors is None:
                    ancestors = self.ancestors(unique_id)
                yield maker, 0 if maker in ancestors else 1


def _order(members: Collection[str], upstream: Mapping[str, list[tuple[str, int]]]) -> list[str]:
    """``members`` with every node after its upstream ones (depth first, no recursion)."""
    order: list[str] = []
    state: dict[str, int] = {}
    for start in sorted(members):
        if state.get(start):
            continue
        stack = [(start, iter(upstream.get(start, ())))]
        state[start] = 1
        while stack:
            node, parents = stack[-1]
            step = next(parents, None)
            if step is None:
                state[node] = 2
                order.append(node)
                stack.pop()
            elif not state.get(step[0]) and step[0] in upstream:
                state[step[0]] = 1
                stack.append((step[0], iter(upstream[step[0]])))
    return order


def plan_stages(
    manifest: Mapping[str, Any],
    selected: Collection[str],
    wanted_test: Callable[[str], bool] = lambda _test: True,
) -> StagePlan | None:
    """The stages of a run that builds ``selected`` (unique ids of seeds, models, snapshots).

    ``wanted_test`` says whether the run asked for a test (its asset check is selected); a test
    placed in an early stage runs there only if wanted, and never in the last one. None when the
    run needs one stage.
    """
    made_by = produced_sources(manifest)
    if not made_by:
        return None
    graph = _Graph(manifest, selected, made_by)
    if not any(graph.made_by.values()):
        return None
    tests = [
        unique_id
        for unique_id, node in graph.nodes.items()
        if node.get("resource_type") == "test" and graph.direct(unique_id)
    ]
    members = [*sorted(graph.selected & set(graph.nodes)), *tests]
    upstream = {member: list(graph.edges(member)) for member in members}
    order = _order(members, upstream)
    earliest: dict[str, int] = {}
    for node in order:
        earliest[node] = max((earliest[up] + w for up, w in upstream[node]), default=0)
    last = max(earliest.values(), default=0)
    if last == 0:
        return None
    is_test = set(tests)
    # Each node as late as what reads it allows; a test right after its last parent.
    latest = dict.fromkeys(members, last)
    for node in reversed(order):
        for up, weight in upstream[node]:
            latest[up] = min(latest[up], latest[node] - weight)
    stage = {
        node: max((latest[up] + w for up, w in upstream[node]), default=last)
        if node in is_test
        else latest[node]
        for node in members
    }
    early = tuple(
        tuple(
            node
            for node in members
            if stage[node] == index and (node not in is_test or wanted_test(node))
        )
        for index in range(last)
    )
    built_early = frozenset(node for node in members if stage[node] < last)
    split_tests = any(
        stage[test] == last and any(parent in built_early for parent in _parents(manifest, test))
        for test in tests
    )
    return StagePlan(early=early, built_early=built_early, split_tests=split_tests)
