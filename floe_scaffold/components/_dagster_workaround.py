"""A small, version-guarded workaround for a quadratic step of Dagster's asset-graph build.

The defect (dagster 1.11-1.13, ``dagster/_core/definitions/resolved_asset_deps.py``):
``resolve_assets_def_deps`` reads ``AssetsDefinition.input_names_by_node_key`` once per
dependency that is not itself an asset (for a dbt project: once per reference to a dbt source).
That attribute is a plain ``property`` (``assets_definition.py``) that rebuilds a dict over all
the inputs of the op on every access, so one ``@dbt_assets`` definition of N models with M source
references costs O(M x N): at 20,000 models it was 61 of 98 CPU seconds of a load.

The fix upstream is one line: make ``input_names_by_node_key`` a ``functools.cached_property``,
as its neighbours (``keys``, ``check_keys``, ...) already are. ``node_keys_by_input_name`` comes
from the definition's ``AssetGraphComputation``, which is set once in ``__init__`` and never
mutated (``with_attributes`` and ``subset_for`` build new definitions), so the cached mapping
cannot go stale. Upstream-shaped description of the change::

    -    @property
    +    @cached_property
         def input_names_by_node_key(self) -> Mapping[AssetKey, str]:
             return {key: input_name for input_name, key in self.node_keys_by_input_name.items()}

A second, linear cost is paid twice: loading a repository builds the asset graph in
``build_caching_repository_data_from_list`` (``repository_data_builder.py``), keeps it only for
the jobs and sensors it makes there, and ``RepositoryDefinition.asset_graph`` then builds it
again from the same definitions. The fix upstream: keep the first graph on
``CachingRepositoryData`` and have ``asset_graph`` return ``graph.with_job_nodes(...)`` of it.
Here ``AssetGraph.key_mappings_from_assets`` (the whole of the build but the cheap wrapping)
remembers its last result for the same set of definitions (the same objects, by identity), so
the second build reuses the first one's nodes, as ``with_job_nodes`` already shares them.

A third one costs a run, not a load: executing a step of a multi-asset, Dagster checks each
``Output`` against the step's other outputs (``_step_output_error_checked_user_event_sequence``,
``execute_step.py``) through ``StepExecutionContext.get_output_asset_keys`` (``system.py``),
which walks all of the step's outputs and, for each, asks the asset layer for the node's
selected keys, ``AssetsDefinition.asset_and_check_keys``: another plain ``property`` that builds
a set of every asset and check key of the definition on each access. For one ``@dbt_assets``
step of N models and C checks that is O(N x (N + C)) per output, O(N^2 x (N + C)) per run: at
1,000 models, 217 of the 377 s of a ``floe run`` (py-spy, 2026-12-07). The fix upstream: make
``asset_and_check_keys`` a ``cached_property`` (``keys`` and ``check_keys``, all it reads, are
ones already) and compute ``get_output_asset_keys`` once per step context (the step, its outputs,
the node and the job's asset layer are fixed for the context's life)::

    -    @property
    +    @cached_property
         def asset_and_check_keys(self) -> AbstractSet[AssetOrCheckKey]:
             return set(self.keys).union(self.check_keys)

This module applies exactly these changes to the installed Dagster, and only when the installed
version is one they were checked against and the attributes are still what was read (a Dagster
that fixed them, or changed them, is left alone). ``tests/project/test_load_speed.py`` checks the
asset graph is identical with and without them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from typing import Any

__all__ = [
    "WORKAROUND_VERSIONS",
    "applies",
    "compile_records",
    "install_workaround",
    "keeping_checks_class",
    "without_workaround",
]

#: Dagster minor versions whose ``input_names_by_node_key`` was read and found quadratic.
WORKAROUND_VERSIONS = ((1, 11), (1, 12), (1, 13))
_NAME = "input_names_by_node_key"
_KEYS_NAME = "asset_and_check_keys"
_OUTPUTS_NAME = "get_output_asset_keys"
_original: list[Any] = []  # the property replaced, kept so a test can restore it
_original_run: list[tuple[Any, Any]] = []  # (asset_and_check_keys, get_output_asset_keys)
_original_mappings: list[Any] = []  # AssetGraph.key_mappings_from_assets, likewise
_last_mappings: list[tuple[frozenset[int], tuple[Any, ...], Any]] = []  # one slot


def _version() -> tuple[int, int]:
    from dagster.version import __version__

    major, minor = [*__version__.split("."), "0", "0"][:2]
    try:
        return int(major), int(minor)
    except ValueError:  # a development build ("1!0+dev"): not one this was checked against
        return (0, 0)


def _input_names_by_node_key(self: Any) -> Mapping[Any, str]:
    return {key: input_name for input_name, key in self.node_keys_by_input_name.items()}


def _remembered_key_mappings(cls: Any, assets: Any) -> Any:
    """``key_mappings_from_assets``, its last result again for the same definitions."""
    given = tuple(assets)
    identities = frozenset(id(asset) for asset in given)
    if _last_mappings:
        last_identities, last_given, result = _last_mappings[0]
        if identities == last_identities and len(set(map(id, last_given))) == len(identities):
            return result
    result = _original_mappings[0].__func__(cls, given)
    _last_mappings[:] = [(identities, given, result)]  # the definitions kept: ids stay theirs
    return result


def _install_graph_reuse() -> None:
    from dagster._core.definitions.assets.graph.asset_graph import AssetGraph

    current = AssetGraph.__dict__.get("key_mappings_from_assets")
    if _original_mappings or not isinstance(current, classmethod):
        return
    _original_mappings.append(current)
    AssetGraph.key_mappings_from_assets = classmethod(_remembered_key_mappings)  # type: ignore[method-assign, assignment]


def _asset_and_check_keys(self: Any) -> Any:
    return set(self.keys).union(self.check_keys)


def _output_asset_keys_once(original: Any) -> Any:
    """``get_output_asset_keys`` computed once per step context, the same set after."""

    def get_output_asset_keys(self: Any) -> Any:
        found = self.__dict__.get("_floe_output_asset_keys")
        if found is None:
            found = self.__dict__["_floe_output_asset_keys"] = frozenset(original(self))
        return found

    get_output_asset_keys.__doc__ = original.__doc__
    return get_output_asset_keys


def _install_run_caches() -> None:
    from dagster._core.definitions.assets.definition.assets_definition import AssetsDefinition
    from dagster._core.execution.context.system import StepExecutionContext

    keys = AssetsDefinition.__dict__.get(_KEYS_NAME)
    outputs = StepExecutionContext.__dict__.get(_OUTPUTS_NAME)
    if _original_run or not isinstance(keys, property) or not callable(outputs):
        return
    _original_run.append((keys, outputs))
    cached = cached_property(_asset_and_check_keys)
    cached.__set_name__(AssetsDefinition, _KEYS_NAME)
    setattr(AssetsDefinition, _KEYS_NAME, cached)
    setattr(StepExecutionContext, _OUTPUTS_NAME, _output_asset_keys_once(outputs))


def applies() -> bool:
    """Whether the installed Dagster is one this workaround was checked against, still unfixed."""
    from dagster._core.definitions.assets.definition.assets_definition import AssetsDefinition

    current = AssetsDefinition.__dict__.get(_NAME)
    return _version() in WORKAROUND_VERSIONS and (isinstance(current, property) or bool(_original))


def install_workaround() -> bool:
    """Cache ``input_names_by_node_key`` per definition (idempotent); whether it is in place."""
    from dagster._core.definitions.assets.definition.assets_definition import AssetsDefinition

    current = AssetsDefinition.__dict__.get(_NAME)
    if isinstance(current, cached_property):
        return bool(_original)
    if _version() not in WORKAROUND_VERSIONS or not isinstance(current, property):
        return False
    replacement = cached_property(_input_names_by_node_key)
    replacement.__set_name__(AssetsDefinition, _NAME)
    _original.append(current)
    setattr(AssetsDefinition, _NAME, replacement)
    _install_graph_reuse()
    _install_run_caches()
    return True


@contextmanager
def without_workaround() -> Iterator[None]:
    """Dagster's own property for the duration (for tests comparing the two graphs)."""
    from dagster._core.definitions.assets.definition.assets_definition import AssetsDefinition
    from dagster._core.definitions.assets.graph.asset_graph import AssetGraph
    from dagster._core.execution.context.system import StepExecutionContext

    if not _original:
        yield
        return
    replaced = AssetsDefinition.__dict__[_NAME]
    replaced_mappings = AssetGraph.__dict__["key_mappings_from_assets"]
    replaced_keys = AssetsDefinition.__dict__[_KEYS_NAME]
    replaced_outputs = StepExecutionContext.__dict__[_OUTPUTS_NAME]
    setattr(AssetsDefinition, _NAME, _original[0])
    if _original_mappings:
        AssetGraph.key_mappings_from_assets = _original_mappings[0]  # type: ignore[method-assign]
    if _original_run:
        setattr(AssetsDefinition, _KEYS_NAME, _original_run[0][0])
        setattr(StepExecutionContext, _OUTPUTS_NAME, _original_run[0][1])
    _last_mappings.clear()
    try:
        yield
    finally:
        setattr(AssetsDefinition, _NAME, replaced)
        AssetGraph.key_mappings_from_assets = replaced_mappings  # type: ignore[method-assign]
        setattr(AssetsDefinition, _KEYS_NAME, replaced_keys)
        setattr(StepExecutionContext, _OUTPUTS_NAME, replaced_outputs)


def keeping_checks_class(checks: Any) -> Any:
    """``checks`` (a multi-asset check) made to stay one when a component's metadata is updated.

    The defect (dagster 1.11-1.13): the Components framework updates the metadata of what a
    component defines (``Definitions.with_definition_metadata_update``, ``definitions_class.py``)
    with ``with_attributes``, whose ``dagster_internal_init`` always builds a plain
    ``AssetsDefinition``, so an ``AssetChecksDefinition`` comes out as one; the repository then
    wraps it back (``repository_data.py``: ``AssetChecksDefinition(**ad.get_attributes_dict())``)
    passing the beta ``execution_type`` argument itself, and every process that loads the
    definitions (the UI's code server too) prints a BetaWarning about a parameter nobody passed.
    (A warnings filter does not hold: Dagster loads components inside ``catch_warnings``.) The
    fix upstream: ``AssetChecksDefinition`` builds its own class in ``dagster_internal_init``.
    Here ``checks`` becomes an instance of a subclass that does exactly that; on another Dagster
    it is returned as it is.
    """
    if _version() not in WORKAROUND_VERSIONS:
        return checks
    import warnings

    import dagster as dg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=dg.BetaWarning)
        return _ChecksKeepingClass(**checks.get_attributes_dict())


def _checks_class() -> Any:
    from dagster._core.definitions.asset_checks.asset_checks_definition import (
        AssetChecksDefinition,
    )

    return AssetChecksDefinition


class _ChecksKeepingClass(_checks_class()):  # type: ignore[misc]
    """An ``AssetChecksDefinition`` whose ``with_attributes`` returns one too."""

    @staticmethod
    def dagster_internal_init(**attributes: Any) -> Any:
        import warnings

        import dagster as dg

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=dg.BetaWarning)
            return _ChecksKeepingClass(**attributes)


def compile_records() -> None:
    """Have Dagster compile the spec records' constructors here, not inside a large frame.

    The defect (dagster 1.11-1.13, ``dagster_shared/record``): a record class compiles its
    checked ``__new__`` on first use (``JitCheckedNew``), with the *calling frame's* locals copied
    into the globals of the compiled function, which lives as long as the class. The first
    ``AssetCheckSpec`` of a process is built inside dagster-dbt's ``build_dbt_specs``, whose
    locals hold the whole parsed manifest: at 20,000 models 480 MiB that the process then keeps
    to its end, though nothing uses it. The fix upstream: keep only the names the generated code
    refers to (the annotations' forward references), not every local of the caller. Here each
    record the spec build makes is built once first, from this frame, whose locals are nothing.
    """
    import dagster as dg

    key, other = dg.AssetKey(["floe_compile_records"]), dg.AssetKey(["floe_compile_records_dep"])
    dg.AssetCheckSpec("compile", asset=key, additional_deps=[dg.AssetDep(other)])
    dg.AssetSpec(key, deps=[dg.AssetDep(other)])
