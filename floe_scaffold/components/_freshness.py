"""dbt source freshness as Dagster asset checks, asked of the warehouse after the seeds load.

dagster-dbt has no runner for ``dbt source freshness`` (dagster-io/dagster#29786) and its
``build_freshness_checks_from_dbt_assets`` covers models only, from Dagster's last
materialization. What Dagster users look for on a source is an asset check on the source's asset
(as Dagster's own demo does): one ``source_freshness`` check per dbt source table that declares
``freshness`` and ``loaded_at_field``, all in one multi-asset check (its step
``dbt_source_freshness``) beside the dbt assets: it runs after the seeds that write a source's
table, alone from the UI's "Execute" without starting dbt, and it stays out of dagster-dbt's
selection logic (which maps every check of the dbt assets to a dbt node to select).

It is computed here, not by running ``dbt source freshness``: that would be a second dbt process
(its start alone costs seconds) and a ``sources.json`` to parse, while one ``UNION ALL`` of
``max(loaded_at_field)`` through the dbt adapter answers every source
(``_table_metadata.freshness_results``). The age is judged as dbt judges it: older than
``error_after`` fails with severity ERROR, older than ``warn_after`` with WARN, else it passes.

A check never blocks downstream assets, and by default a stale source does not fail the run:
the models built from it are built, and ``floe run`` says which sources are stale in its
summary. ``freshness: {fail_run_on_error: true}`` on the component (:class:`FreshnessSettings`)
makes the check's step fail once every result is reported, when a source is past its
``error_after`` (``dbt source freshness`` exits 1 then): the Dagster run fails, from ``floe
run`` (exit 1) as from the UI or a schedule. Not through ``AssetCheckSpec(blocking=True)``:
Dagster makes a blocking check's downstream assets wait for it, and the source's models are in
the same dbt step as the seed the check waits for, a cycle.
"""

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import dagster as dg
from dagster import AssetCheckExecutionContext
from pydantic import ConfigDict, Field

from floe_scaffold._relations import produced_sources
from floe_scaffold.components._dagster_workaround import keeping_checks_class

__all__ = [
    "CHECK_NAME",
    "OP_NAME",
    "FreshnessSettings",
    "FreshnessSource",
    "evaluate",
    "freshness_check_specs",
    "freshness_checks",
    "freshness_sources",
    "human_duration",
    "judge",
    "stale_failure",
]

#: The name of the check on each source's asset.
CHECK_NAME = "source_freshness"
#: The name of the multi-asset check (its step in a run) that judges every source.
OP_NAME = "dbt_source_freshness"
_PERIOD_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
#: Sources asked per query: one ``UNION ALL`` of at most this many ``max()``.
_PER_QUERY = 200

AssetKeyOf = Callable[[Mapping[str, Any]], dg.AssetKey]


class FreshnessSettings(dg.Model):
    """What a stale dbt source does to the run (``freshness`` in the component's ``defs.yaml``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fail_run_on_error: bool = Field(
        default=False,
        description="Fail the run when a dbt source is older than its `error_after`, as `dbt "
        "source freshness` exits 1: the `dbt_source_freshness` step fails once every source is "
        "judged, so `floe run` exits 1 and the Dagster run (from the UI, a schedule) fails. "
        "Off by default: the stale source is an ERROR check result and `floe run` names it "
        "in its summary, but the run, whose models did build, succeeds.",
    )


@dataclass(frozen=True)
class FreshnessSource:
    """One dbt source table with a freshness rule: where it is and how old it may be."""

    unique_id: str
    asset_key: dg.AssetKey
    relation_name: str
    loaded_at_field: str
    warn_after: float | None  # seconds
    error_after: float | None  # seconds
    filter: str | None
    loaded_by: tuple[dg.AssetKey, ...] = ()  # the seeds, models, snapshots making its table
    file: str | None = None  # the YAML file declaring it, relative to the dbt project

    @property
    def name(self) -> str:
        """The source as dbt names it: ``source_name.table_name``."""
        return self.unique_id.split(".", 2)[-1]

    @property
    def check_key(self) -> dg.AssetCheckKey:
        """The key of this source's freshness check."""
        return dg.AssetCheckKey(self.asset_key, CHECK_NAME)


def _threshold(rule: Any) -> float | None:
    if not isinstance(rule, Mapping):
        return None
    count, period = rule.get("count"), rule.get("period")
    if not isinstance(count, int) or count <= 0 or period not in _PERIOD_SECONDS:
        return None
    return float(count * _PERIOD_SECONDS[str(period)])


def _setting(source: Mapping[str, Any], name: str) -> Any:
    """A source setting, from ``config`` (dbt >= 1.10) or the top level (older dbt)."""
    config = source.get("config") or {}
    value = config.get(name) if isinstance(config, Mapping) else None
    return value if value is not None else source.get(name)


def freshness_sources(
    manifest: Mapping[str, Any], asset_key_of: AssetKeyOf
) -> list[FreshnessSource]:
    """The manifest's source tables with a ``loaded_at_field`` and a warn or error threshold."""
    made_by = produced_sources(manifest)
    nodes = manifest.get("nodes") or {}
    found = []
    for unique_id, source in sorted((manifest.get("sources") or {}).items()):
        freshness = _setting(source, "freshness")
        loaded_at = _setting(source, "loaded_at_field")
        relation = source.get("relation_name")
        if not isinstance(freshness, Mapping) or not loaded_at or not relation:
            continue
        warn, error = (
            _threshold(freshness.get("warn_after")),
            _threshold(freshness.get("error_after")),
        )
        if warn is None and error is None:
            continue
        where = freshness.get("filter")
        found.append(
            FreshnessSource(
                unique_id=unique_id,
                asset_key=asset_key_of(source),
                relation_name=str(relation),
                loaded_at_field=str(loaded_at),
                warn_after=warn,
                error_after=error,
                filter=str(where) if where else None,
                loaded_by=tuple(asset_key_of(nodes[uid]) for uid in made_by.get(unique_id, ())),
                file=str(source["original_file_path"])
                if source.get("original_file_path")
                else None,
            )
        )
    return found


def freshness_check_specs(sources: Iterable[FreshnessSource]) -> list[dg.AssetCheckSpec]:
    """One non-blocking ``source_freshness`` check spec per source."""
    return [
        dg.AssetCheckSpec(
            CHECK_NAME,
            asset=source.asset_key,
            description=f"dbt source freshness of {source.unique_id.split('.', 2)[-1]}: the "
            f"newest {source.loaded_at_field} against the source's warn_after/error_after.",
            additional_deps=list(source.loaded_by),
            metadata={"dbt/unique_id": source.unique_id},
        )
        for source in sources
    ]


def human_duration(seconds: float) -> str:
    """``seconds`` as people say it: ``90 s``, ``12 min``, ``47 h``, ``1,057 days``."""
    seconds = max(float(seconds), 0.0)
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{int(seconds // size):,} {unit}"
    return f"{int(seconds)} s"


def _as_utc(value: Any) -> datetime | None:
    """A warehouse's timestamp as an aware UTC datetime (naive ones are UTC, as dbt reads them)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    return None


def judge(
    source: FreshnessSource, loaded_at: Any, now: datetime, *, problem: str | None = None
) -> dg.AssetCheckResult:
    """The check result of ``source`` whose newest row was loaded at ``loaded_at``."""
    newest = _as_utc(loaded_at)
    metadata: dict[str, Any] = {
        "dbt/unique_id": source.unique_id,
        "loaded_at_field": source.loaded_at_field,
    }
    if source.file is not None:
        metadata["dbt/file"] = source.file
    for name, seconds in (
        ("warn_after_seconds", source.warn_after),
        ("error_after_seconds", source.error_after),
    ):
        if seconds is not None:
            metadata[name] = dg.MetadataValue.float(float(seconds))
    if newest is None:
        metadata["problem"] = problem or "the source has no rows to judge"
        return dg.AssetCheckResult(
            asset_key=source.asset_key,
            check_name=CHECK_NAME,
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            metadata=metadata,
        )
    age = (now - newest).total_seconds()
    metadata["max_loaded_at"] = dg.MetadataValue.timestamp(newest)
    metadata["age_seconds"] = dg.MetadataValue.float(age)
    metadata["age"] = human_duration(age)
    if source.error_after is not None and age > source.error_after:
        passed, severity = False, dg.AssetCheckSeverity.ERROR
    elif source.warn_after is not None and age > source.warn_after:
        passed, severity = False, dg.AssetCheckSeverity.WARN
    else:
        passed, severity = True, dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(
        asset_key=source.asset_key,
        check_name=CHECK_NAME,
        passed=passed,
        severity=severity,
        metadata=metadata,
    )


def evaluate(
    adapter: Any, sources: Sequence[FreshnessSource], now: datetime
) -> list[dg.AssetCheckResult]:
    """Each source's check result, from one ``UNION ALL`` of ``max(loaded_at)`` per 200 sources.

    ``adapter`` is a dbt adapter with an open connection; a query the warehouse refuses makes
    every source of it a failed WARN result that says why (the run goes on).
    """
    results: list[dg.AssetCheckResult] = []
    for start in range(0, len(sources), _PER_QUERY):
        chunk = sources[start : start + _PER_QUERY]
        sql = " union all ".join(
            f"select {index} as floe_index, cast(max({source.loaded_at_field}) as timestamp) "  # noqa: S608 - the project's own dbt source settings
            f"as floe_loaded_at from {source.relation_name}"
            + (f" where {source.filter}" if source.filter else "")
            for index, source in enumerate(chunk)
        )
        try:
            _, table = adapter.execute(sql, fetch=True)
        except Exception as error:  # noqa: BLE001 - any adapter's error is reported, not raised
            problem = f"the warehouse did not answer the freshness query: {error}"
            results.extend(judge(source, None, now, problem=problem) for source in chunk)
            continue
        newest = {int(index): value for index, value in (tuple(row) for row in table.rows)}
        results.extend(judge(source, newest.get(index), now) for index, source in enumerate(chunk))
    return results


Judge = Callable[[Sequence[FreshnessSource]], list[dg.AssetCheckResult]]


def stale_failure(
    sources: Sequence[FreshnessSource], results: Sequence[dg.AssetCheckResult], where: str
) -> str | None:
    """Why the run fails: each source past its ``error_after``, and how to relax it; or None.

    ``where`` names the setting that makes it fail (the component's ``defs.yaml``).
    """
    by_key = {source.check_key: source for source in sources}
    named = []
    for result in results:
        if result.passed or result.severity != dg.AssetCheckSeverity.ERROR:
            continue
        key = dg.AssetCheckKey(result.asset_key or dg.AssetKey("?"), result.check_name or "")
        source = by_key.get(key)
        if source is None:
            continue
        age = result.metadata.get("age")
        said = f"{source.name} (newest row {getattr(age, 'value', age)} old"
        if source.error_after is not None:
            said += f", error_after {human_duration(source.error_after)}"
        said += f", in {source.file})" if source.file else ")"
        named.append(said)
    if not named:
        return None
    count = len(named)
    return (
        f"{count} dbt source{'s are' if count > 1 else ' is'} older than error_after: "
        f"{'; '.join(named)}; the run fails because freshness.fail_run_on_error is true in "
        f"{where}: load newer data into the source, raise its freshness.error_after in the "
        "dbt project's YAML, or set fail_run_on_error: false to only report it"
    )


def freshness_checks(
    specs: Sequence[dg.AssetCheckSpec],
    sources: Callable[[], Sequence[FreshnessSource]],
    judge_all: Judge,
    *,
    settings: FreshnessSettings | None = None,
    where: str = "defs.yaml",
) -> dg.AssetChecksDefinition | None:
    """The multi-asset check ``dbt_source_freshness`` over ``specs``; None if there are none.

    ``sources`` gives the manifest's sources with a freshness rule (called when the check runs:
    loading the definitions parses no manifest), ``judge_all`` their results
    (``_table_metadata.freshness_results``). Only the selected checks are asked. With
    ``settings.fail_run_on_error``, the step fails after its results when a source is past its
    ``error_after`` (``where``: the file that says so, for the message).
    """
    if not specs:
        return None
    fail_run = settings is not None and settings.fail_run_on_error

    @dg.multi_asset_check(specs=list(specs), name=OP_NAME, can_subset=True)
    def dbt_source_freshness(context: AssetCheckExecutionContext) -> Iterator[Any]:
        selected = context.selected_asset_check_keys
        asked = [one for one in sources() if one.check_key in selected]
        results = judge_all(asked)
        yield from results
        why = stale_failure(asked, results, where) if fail_run else None
        if why is not None:
            raise dg.Failure(description=why, allow_retries=False)

    return keeping_checks_class(dbt_source_freshness)  # type: ignore[no-any-return]
