"""``floe run``: materialize a project's assets in-process, with progress and a summary.

dbt's own lines pass through as dbt prints them (without colours when stdout is not a terminal,
without Python tracebacks unless ``debug``); a failure is summed up from dbt's artifacts: each
failed node with dbt's message, else dbt's error, else the Dagster step's error.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from floe_scaffold._dbt_defaults import without_defaults
from floe_scaffold._dbt_output import (
    TRACEBACK_HINT,
    CleanStream,
    readable_lines,
    without_tracebacks,
)
from floe_scaffold._warm_dbt import WarmUp, real_dbt, start_warm_dbt
from floe_scaffold.errors import EXIT_INTERRUPTED, EXIT_INVALID_INPUT, FloeError
from floe_scaffold.project._credentials import ProfileOutput, check_credentials, profile_outputs
from floe_scaffold.project._instance import RunRecorder, instance_home
from floe_scaffold.project._locate import ProjectLayout
from floe_scaffold.project._memory_instance import memory_instance
from floe_scaffold.project._run_options import RunOptionError, RunOptions, run_config

__all__ = [
    "AssetOutcome",
    "DefinitionsLoadError",
    "FreshnessVerdict",
    "RunInterruptedError",
    "RunSummary",
    "run_project",
]

#: What dbt-duckdb says when another process holds the database file (DuckDB's own wording).
_DUCKDB_LOCK = re.compile(
    r'Could not set lock on file "(?P<path>[^"]+)": Conflicting lock is held in '
    r"(?P<program>.*?) \(PID (?P<pid>\d+)\)"
)
#: The class name Dagster gives a step stopped by SIGINT (a ``SerializableErrorInfo``).
_INTERRUPTED = "DagsterExecutionInterruptedError"
#: The dbt resource types dagster-dbt makes assets of: the rows of the summary, from dbt's results.
_ASSET_NODES = frozenset({"model", "seed", "snapshot"})


@dataclass(frozen=True)
class AssetOutcome:
    """One asset of the run, dbt's or not: its status, duration and rows (when known).

    A dbt node's ``unique_id`` is dbt's; another asset's is its asset key (``a/b``).
    """

    name: str
    unique_id: str
    status: str
    seconds: float
    rows: int | None
    message: str | None


@dataclass(frozen=True)
class RunSummary:
    """The outcome of ``floe run``.

    On failure, ``failure`` is one line that says what failed, ``failure_lines`` what dbt (or
    Dagster) said about it, readable; ``trace`` is the failed step's Python traceback, kept only
    when debugging.
    """

    success: bool
    run_id: str
    outcomes: tuple[AssetOutcome, ...]
    failure: str | None
    seconds: float
    failure_lines: tuple[str, ...] = ()
    trace: str | None = None
    #: The Dagster instance the run was recorded in, and why not, when it could not be.
    recorded_in: Path | None = None
    record_problem: str | None = None
    #: Each dbt source's freshness, as the run's ``source_freshness`` checks judged it.
    freshness: tuple[FreshnessVerdict, ...] = ()


@dataclass(frozen=True)
class FreshnessVerdict:
    """A dbt source's freshness in this run: ``error``, ``warn`` or ``fresh``.

    ``age`` is the newest row's age and ``allowed`` the threshold it is past (``error_after``
    for an error, ``warn_after`` for a warning), as people say them; ``problem`` says why a
    source could not be judged (a warning).
    """

    source: str
    status: str
    age: str | None
    allowed: str | None
    problem: str | None


def run_project(
    layout: ProjectLayout,
    *,
    select: str | None,
    on_progress: Callable[[str, str], None],
    debug: bool = False,
    options: RunOptions | None = None,
    while_dbt_starts: Callable[[], None] | None = None,
) -> RunSummary:
    """Load the project's definitions and execute the selected assets (all by default).

    ``options`` are dbt flags for this run (``--exclude``, ``--full-refresh``, ``--vars``).
    ``while_dbt_starts`` is called once dbt is starting in the background: work that imports
    Dagster belongs there, where it overlaps dbt's own start instead of delaying it.

    Raises:
        MissingCredentialsError: a variable the dbt profile output reads is unset (checked
            before dbt starts).
        DefinitionsLoadError: the definitions did not load (a failed ``dbt parse``, say).
        RunInterruptedError: SIGINT (Ctrl-C) stopped the run; raised once Dagster and dbt
            have stopped and the run is recorded.

    """
    outputs = profile_outputs(layout)
    check_credentials(layout, outputs=outputs)
    os.environ.setdefault("DAGSTER_IS_DEV_CLI", "1")  # floe run is a development command
    started = time.perf_counter()
    # dbt starts (imports, then parses into a scratch folder) now, on the other core, while
    # Dagster gets ready (see _warm_dbt.py)
    options = options or RunOptions()
    warm = start_warm_dbt(real_dbt(), _warm_up(outputs, options))
    try:
        if while_dbt_starts is not None:
            while_dbt_starts()
        return _run_project(
            layout,
            select=select,
            on_progress=on_progress,
            debug=debug,
            started=started,
            options=options,
        )
    finally:
        if warm is not None:
            warm.close()


def _warm_up(outputs: list[ProfileOutput], options: RunOptions) -> WarmUp | None:
    """The warm dbt's parse: the project's, with the flags its component gives dbt (if one)."""
    if len(outputs) != 1:  # the warm dbt serves one command: with several, which is unknown
        return None
    (output,) = outputs
    profiles_dir = output.profiles_file.parent
    profile, target = without_defaults(
        output.project_dir, profiles_dir, output.profile, output.target
    )
    from floe_scaffold._dbt_vars import VarsError, merged_vars

    try:  # the --vars dbt will get: those of cli_args, with the run's over them
        dbt_vars = merged_vars(output.cli_args, options.dbt_vars)
    except VarsError:  # dbt will say so; the warm-up only loses its gain
        dbt_vars = None
    return WarmUp(output.project_dir, profiles_dir, profile, target, dbt_vars)


def _run_project(
    layout: ProjectLayout,
    *,
    select: str | None,
    on_progress: Callable[[str, str], None],
    debug: bool,
    started: float,
    options: RunOptions,
) -> RunSummary:
    import dagster as dg

    try:
        with _without_component_catalog():
            module = layout.import_definitions()
            loaded: Any = getattr(module, "defs")  # noqa: B009 - the attribute name is the convention
            definitions: dg.Definitions = loaded() if callable(loaded) else loaded
    except Exception as error:  # noqa: BLE001 - any failure of user code is reported, not raised
        raise DefinitionsLoadError(layout.package, error, debug=debug) from None
    job = definitions.resolve_implicit_global_asset_job_def()
    keys = _selected_keys(definitions, select, options.exclude)
    dbt_config = run_config(
        [assets for assets in definitions.assets or () if _is_dbt_assets(assets)], keys, options
    )
    run_id = str(uuid.uuid4())
    # The run executes on an in-memory instance and is recorded, as it goes, into the project's
    # instance (`floe dev` and `dg dev` show it): see project/_instance.py.
    home: Path | None = None
    record_problem: str | None = None
    try:
        home = instance_home(layout.root)
    except OSError as error:  # the run goes on, unrecorded, and says why
        record_problem = f"cannot make the Dagster instance's directory: {error}"
    with (
        memory_instance() as instance,
        _clean_stdout(tracebacks=debug),
        _quiet_generator_exits(),
    ):
        recorder = None
        steps = _StepLog()
        instance.add_event_listener(run_id, steps)
        instance.add_event_listener(run_id, _CancelOnInterrupt(instance, run_id))
        if home is not None:
            where = str(home)
            recorder = RunRecorder(instance, lambda: dg.DagsterInstance.from_config(where), run_id)
            instance.add_event_listener(run_id, recorder)
        instance.add_event_listener(run_id, _progress_listener(on_progress))
        lineage = _RunLineage(job, run_id)
        try:
            result = job.execute_in_process(
                instance=instance,
                run_id=run_id,
                raise_on_error=False,
                asset_selection=keys,
                run_config={
                    "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
                    **dbt_config,
                },
            )
        except KeyboardInterrupt:  # a second Ctrl-C, or one Dagster did not catch
            from floe_scaffold.components._resource import stop_dbt_processes

            stop_dbt_processes()
            lineage.aborted()
            raise
        finally:
            if recorder is not None:
                try:
                    record_problem = recorder.close()
                except KeyboardInterrupt:  # while the last events were being recorded
                    raise RunInterruptedError(run_id, home) from None
    if not result.success and _was_interrupted(result):
        from floe_scaffold.components._resource import stop_dbt_processes

        stop_dbt_processes()  # dbt has its SIGINT too; it writes its results, then exits
        lineage.aborted()
        raise RunInterruptedError(run_id, home)
    lineage.ended(result)
    failure: str | None = None
    failure_lines: list[str] = []
    trace = None
    if not result.success:
        errors = [
            event.step_failure_data.error
            for event in result.all_events
            if event.is_step_failure and event.step_failure_data.error is not None
        ]
        failure, failure_lines = _explain(layout.root, run_id, errors, debug=debug)
        stale = _stale_failure(result)
        if stale is not None and not _failed_nodes(layout.root, run_id):
            failure, failure_lines = f"the run failed: {stale}", []
        if debug and errors:
            trace = _traceback(errors[0])
    return RunSummary(
        success=result.success,
        run_id=run_id,
        outcomes=tuple(
            steps.ordered(
                _outcomes(layout.root, run_id, _row_counts(result)), _dbt_keys(definitions)
            )
        ),
        failure=failure,
        seconds=time.perf_counter() - started,
        failure_lines=tuple(failure_lines),
        trace=trace,
        recorded_in=home,
        record_problem=record_problem,
        freshness=_freshness(result),
    )


@contextlib.contextmanager
def _without_component_catalog() -> Iterator[None]:
    """Load the definitions without the catalogue of installed component types.

    ``load_from_defs_folder`` adds to the repository's metadata a JSON description of every
    component type of every installed package (``get_library_json_enriched_defs``: 0.1-0.3 s of
    entry points and schema snapshots); the UI's component palette reads it, a run never does
    (the run's job and plan snapshots do not hold repository metadata). ``floe run`` loads the
    definitions only to execute them, so it keeps the component tree and leaves the catalogue
    out; `floe dev` and `dg` load the definitions as Dagster does. Where this Dagster has no such
    function, nothing changes.
    """
    try:
        from dagster.components.core import load_defs
    except ImportError:
        yield
        return
    original = getattr(load_defs, "get_library_json_enriched_defs", None)
    if original is None:
        yield
        return

    def without_catalog(tree: Any) -> Any:
        import dagster as dg

        return dg.Definitions(component_tree=tree)

    load_defs.get_library_json_enriched_defs = without_catalog
    try:
        yield
    finally:
        load_defs.get_library_json_enriched_defs = original


class RunInterruptedError(FloeError):
    """SIGINT (Ctrl-C) stopped ``floe run`` (exit 130, as a shell reports a SIGINT)."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, run_id: str, home: Path | None) -> None:
        where = f"; it is recorded in {home}" if home is not None else ""
        super().__init__(
            f"interrupted: run {run_id[:8]} stopped on Ctrl-C (SIGINT) after dbt and Dagster "
            f"stopped{where}; nodes dbt finished keep their results, run `floe run` again to "
            "build the rest"
        )


class _RunLineage:
    """The Dagster run's own START and end (``lineage/_dagster_run``), for ``floe run``.

    ``execute_in_process`` always runs Dagster's in-process executor, so floe's executor, which
    sends them for a run worker, never sees this run: its definition's ``run_lineage`` is used
    here instead (none when the project's definitions use another executor).
    """

    def __init__(self, job: Any, run_id: str) -> None:
        from floe_scaffold.lineage._dagster_run import DagsterRun

        self._lineage = getattr(job.executor_def, "run_lineage", None)
        self._run = DagsterRun(run_id, job.name)
        if self._lineage is not None:
            self._lineage.started(self._run)

    def ended(self, result: Any) -> None:
        if self._lineage is None:
            return
        from floe_scaffold.components._executor import step_failure_text

        failures = [step_failure_text(e) for e in result.all_events if e.is_step_failure]
        self._lineage.ended(
            self._run, success=result.success, error="\n".join(failures) or "the run failed"
        )

    def aborted(self) -> None:
        if self._lineage is not None:
            self._lineage.aborted(self._run, "the run was interrupted")


def _was_interrupted(result: Any) -> bool:
    """Whether a step of ``result`` failed because the run was interrupted (SIGINT)."""
    return any(_stopped_by_interrupt(event) for event in result.all_events)


def _stopped_by_interrupt(event: Any) -> bool:
    """Whether ``event`` is a step failure caused by SIGINT (Dagster's interrupted error)."""
    if not event.is_step_failure or event.step_failure_data.error is None:
        return False
    error = event.step_failure_data.error
    while error is not None:
        if error.cls_name == _INTERRUPTED:
            return True
        error = error.cause or getattr(error, "context", None)
    return False


class _CancelOnInterrupt:
    """An event listener: a step stopped by Ctrl-C marks the run as canceling.

    Dagster then ends the run as *canceled* (its own rule: a run whose steps fail while it is
    canceling is canceled), as a termination from the UI ends, not as a failure; the project's
    instance records it so, and the UI shows it so.
    """

    def __init__(self, instance: Any, run_id: str) -> None:
        self._instance, self._run_id = instance, run_id
        self._done = False

    def __call__(self, entry: Any) -> None:
        event = entry.dagster_event
        if self._done or event is None or not _stopped_by_interrupt(event):
            return
        self._done = True
        run = self._instance.get_run_by_id(self._run_id)
        if run is not None and not run.is_finished:
            self._instance.report_run_canceling(run, message="Ctrl-C (SIGINT) stopped floe run")


@contextlib.contextmanager
def _quiet_generator_exits() -> Iterator[None]:
    """No ``Exception ignored in: <generator ...>`` noise when a stopped step's stream closes.

    An interrupted step leaves dagster-dbt's event generators half-run; Python reports their
    finalisation on stderr as an unraisable ``RuntimeError``/``GeneratorExit``. Anything else
    unraisable still goes to the hook that was installed.
    """
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, (RuntimeError, GeneratorExit)) and (
            "generator" in repr(unraisable.object)
        ):
            return
        previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous


class DefinitionsLoadError(FloeError):
    """The project's definitions failed to load (exit 1); the message is the root cause.

    Dagster wraps component errors; the useful text is at the bottom of the chain, and a floe
    error there (a failed ``dbt parse``, say) already says what to do, with dbt's output.
    """

    exit_code = EXIT_INVALID_INPUT

    def __init__(self, package: str, error: BaseException, *, debug: bool = False) -> None:
        chain: list[BaseException] = []
        current: BaseException | None = error
        while current is not None and current not in chain:
            chain.append(current)
            current = current.__cause__ or current.__context__
        floe = next((link for link in chain if isinstance(link, FloeError)), None)
        trace = "".join(traceback.format_exception(error)) if debug else None
        if floe is not None:
            first, *self._more = floe.lines()
            output = "\n".join(part for part in (floe.output, trace) if part)
        else:  # Dagster's messages (a YAML error, say) span lines: the first is the headline
            last = chain[-1]
            head, _, rest = str(last).partition("\n")
            first, self._more = f"{type(last).__name__}: {head}", []
            hint = None if debug else "(`floe run --debug` or `dg check defs` shows the trace)"
            output = "\n".join(part for part in (rest, trace, hint) if part)
        super().__init__(f"cannot load {package}.definitions: {first}", output=output or None)

    def lines(self) -> list[str]:
        return [self.message, *self._more]


@contextlib.contextmanager
def _clean_stdout(*, tracebacks: bool) -> Iterator[None]:
    """Clean the lines dagster-dbt re-prints from dbt (see ``floe_scaffold._dbt_output``)."""
    stream = CleanStream(sys.stdout, tracebacks=tracebacks)
    try:
        with contextlib.redirect_stdout(stream):
            yield
    finally:
        stream.close()


def _explain(
    root: Path, run_id: str, errors: Sequence[Any], *, debug: bool
) -> tuple[str, list[str]]:
    """What failed (one line) and what dbt or Dagster said about it (readable lines)."""
    failure, lines = _what_failed(root, run_id, errors, debug=debug)
    said = [*lines, *(_messages(error) for error in errors)]
    locked = next((match for line in said if (match := _DUCKDB_LOCK.search(line))), None)
    if locked is not None:  # dbt's lines above the table say it too; one line here
        return _lock_message(locked), []
    return failure, lines


def _lock_message(locked: re.Match[str]) -> str:
    program = Path(locked["program"]).name or locked["program"]
    return (
        f"the run failed: the DuckDB database {locked['path']} is locked by another process "
        f"(PID {locked['pid']}, {program}); DuckDB lets one process write at a time: wait for "
        "that one (another `floe run`, `floe dev` or a dbt command) to finish, or stop it, "
        "then run again"
    )


def _messages(error: Any) -> str:
    """The messages of a Dagster ``SerializableErrorInfo`` and its causes, joined."""
    parts = []
    while error is not None:
        parts.append(str(error.message))
        error = error.cause or getattr(error, "context", None)
    return "\n".join(parts)


def _what_failed(
    root: Path, run_id: str, errors: Sequence[Any], *, debug: bool
) -> tuple[str, list[str]]:
    nodes = _failed_nodes(root, run_id)
    if nodes:
        lines: list[str] = []
        for kind, name, message in nodes:
            lines.append(f"{kind} {name}:")
            lines.extend(f"  {line}" if line else "" for line in readable_lines(message))
        names = ", ".join(f"{kind} {name}" for kind, name, _ in nodes)
        return f"the run failed: {names} (dbt's messages are above the table)", lines
    dbt_errors = _dbt_errors(root, run_id, debug=debug)
    if dbt_errors:
        return "the run failed: dbt stopped with an error (shown above the table)", dbt_errors
    if errors:
        innermost = errors[0]
        while innermost.cause is not None:  # Dagster wraps the step's own exception
            innermost = innermost.cause
        lines = readable_lines(innermost.message)
        lines = lines if debug else without_tracebacks(lines)
        return "the run failed: a step raised an error (shown above the table)", lines[:40]
    return "the run failed", []


def _run_dirs(root: Path, run_id: str) -> list[Path]:
    # Each dagster-dbt invocation writes its own target/<op>-<run id[:7]>-<suffix>/ directory.
    return sorted(path for path in root.rglob(f"target/*-{run_id[:7]}-*") if path.is_dir())


def _failed_nodes(root: Path, run_id: str) -> list[tuple[str, str, str]]:
    """(kind, name, dbt's message) of each node of this run that failed or errored."""
    failed = []
    for run_dir in _run_dirs(root, run_id):
        results = _json(run_dir / "run_results.json")
        for result in results.get("results", []) if isinstance(results, dict) else []:
            status = str(result.get("status"))
            if status in {"error", "fail", "runtime error"}:
                kind, _, rest = str(result["unique_id"]).partition(".")
                name = rest.split(".")[1] if rest.count(".") >= 1 else rest
                if kind == "unit_test":  # unit_test.<package>.<model>.<test>
                    name = f"{rest.rsplit('.', 1)[-1]} (of {name})"
                failed.append((kind, name, str(result.get("message") or status)))
    return failed


def _dbt_errors(root: Path, run_id: str, *, debug: bool) -> list[str]:
    """The error messages of dbt not about a node (a failed connection), from its JSON log."""
    lines: list[str] = []
    hidden = False
    for run_dir in _run_dirs(root, run_id):
        log = run_dir / "dbt.log"
        try:
            entries = log.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        for entry in entries:
            try:
                event = json.loads(entry)
                info, data = event["info"], event.get("data") or {}
            except (ValueError, KeyError, TypeError):
                continue
            if info.get("level") != "error" or data.get("node_info"):
                continue
            if info.get("name") == "MainStackTrace":  # dbt's own lines show it when debugging
                hidden = not debug
                continue
            lines.extend(readable_lines(str(info.get("msg") or "")))
    if hidden and lines:
        lines.append(TRACEBACK_HINT)
    return lines


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _traceback(error: Any) -> str:
    """A Dagster ``SerializableErrorInfo`` as Python prints a traceback, causes first."""
    parts = []
    if error.cause is not None:
        parts += [
            _traceback(error.cause),
            "\nThe above exception was the direct cause of the following exception:\n\n",
        ]
    elif getattr(error, "context", None) is not None:
        parts += [
            _traceback(error.context),
            "\nDuring handling of the above exception, another exception occurred:\n\n",
        ]
    parts.append("Traceback (most recent call last):\n" + "".join(error.stack) + error.message)
    return "".join(parts)


def _selected_keys(
    definitions: Any, select: str | None, exclude: str | None = None
) -> Sequence[Any] | None:
    if not select and not exclude:
        return None
    from dagster_dbt import build_dbt_asset_selection

    dbt_defs = [assets for assets in definitions.assets or () if _is_dbt_assets(assets)]
    selection = build_dbt_asset_selection(
        dbt_defs, dbt_select=select or "fqn:*", dbt_exclude=exclude or ""
    )
    graph = definitions.resolve_asset_graph()
    keys = sorted(selection.resolve(graph), key=str)
    if not keys:  # Dagster would take an empty selection as no selection: every asset
        given = " ".join(
            f"--{flag} {value!r}"
            for flag, value in (("select", select), ("exclude", exclude))
            if value
        )
        raise RunOptionError(
            f"{given}: no asset of the project is selected, nothing was run; check the names "
            "(dbt's selection syntax: a model, seed or snapshot, tag:..., path:...)"
        )
    return keys


def _is_dbt_assets(assets: Any) -> bool:
    specs = getattr(assets, "specs", ())
    return any("dagster_dbt/manifest" in spec.metadata for spec in specs)


def _progress_listener(on_progress: Callable[[str, str], None]) -> Callable[[Any], None]:
    # dbt prints its own per-node progress; this adds what dbt's lines do not say.
    def listener(entry: Any) -> None:
        event = entry.dagster_event
        if event is None:
            return
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed:
                on_progress(*_failed_check(evaluation))
        elif event.event_type_value == "STEP_FAILURE":
            error = event.event_specific_data.error
            stopped = error is not None and error.cls_name == _INTERRUPTED
            on_progress("interrupted" if stopped else "failed", event.step_key or "step")

    return listener


def _failed_check(evaluation: Any) -> tuple[str, str]:
    """``check failed`` (severity ERROR) or ``check warned`` (WARN), the check, and why if known.

    A source's freshness says how old its newest row is (``_freshness``), or what kept it from
    being judged.
    """
    check = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
    warned = getattr(evaluation.severity, "value", "ERROR") == "WARN"
    metadata = evaluation.metadata or {}

    def value(name: str) -> Any:
        item = metadata.get(name)
        return getattr(item, "value", item)

    if value("problem"):
        check += f": {value('problem')}"
    elif value("age"):
        limit = value("error_after_seconds" if not warned else "warn_after_seconds")
        check += f": newest row {value('age')} old"
        if isinstance(limit, (int, float)):
            from floe_scaffold.components._freshness import human_duration

            check += f" (allowed: {human_duration(limit)})"
    return ("check warned" if warned else "check failed"), check


def _row_counts(result: Any) -> dict[str, int]:
    """Row counts the warehouse gave (``table_metadata``), by dbt unique id.

    They come as observations after dbt (``components/_table_metadata.py``), matched to the
    node through its materialization's ``unique_id``.
    """
    unique_ids: dict[Any, str] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        unique_id = materialization.metadata.get("unique_id")
        if unique_id is not None:
            unique_ids[materialization.asset_key] = str(getattr(unique_id, "value", unique_id))
    counts: dict[str, int] = {}
    for event in result.get_asset_observation_events():
        observation = event.asset_observation_data.asset_observation
        rows = observation.metadata.get("dagster/row_count")
        unique_id = unique_ids.get(observation.asset_key)
        if rows is not None and unique_id is not None:
            counts[unique_id] = int(rows.value)
    return counts


def _outcomes(root: Path, run_id: str, counted: dict[str, int]) -> list[AssetOutcome]:
    # This run's results are read from its own run_results.json, never a stale shared one;
    # rows are the warehouse's count when table_metadata asked for it, else what dbt reports.
    outcomes: list[AssetOutcome] = []
    for run_dir in _run_dirs(root, run_id):
        results = _json(run_dir / "run_results.json")
        if not isinstance(results, dict):
            continue
        for result in results.get("results", []):
            unique_id = str(result["unique_id"])
            if unique_id.split(".", 1)[0] not in _ASSET_NODES:
                continue  # tests, exposures, semantic models, metrics, hooks: not assets
            response = result.get("adapter_response") or {}
            rows = counted.get(unique_id, response.get("rows_affected"))
            outcomes.append(
                AssetOutcome(
                    name=unique_id.split(".")[-1],
                    unique_id=unique_id,
                    status=str(result["status"]),
                    seconds=float(result.get("execution_time") or 0.0),
                    rows=rows if isinstance(rows, int) and rows >= 0 else None,
                    message=result.get("message") if result["status"] == "error" else None,
                )
            )
    return outcomes


def _dbt_keys(definitions: Any) -> set[Any]:
    """The asset keys of the definitions' dbt assets (their rows come from dbt's results)."""
    return {
        key
        for assets in definitions.assets or ()
        if _is_dbt_assets(assets)
        for key in getattr(assets, "keys", ())
    }


class _StepLog:
    """An event listener: when each step ran, and what became of each asset it planned.

    The summary's rows of assets that are not dbt's (a Python ``@asset`` beside the dbt
    project) come from here: materialized (``success``, with ``dagster/row_count`` when the
    asset gives one), its step failed (``error``) or never ran (``skipped``).
    """

    def __init__(self) -> None:
        self.started: dict[str, float] = {}
        self.ended: dict[str, float] = {}
        self.failed: set[str] = set()
        self.planned: dict[Any, str] = {}
        self.materialized: dict[Any, float] = {}
        self.rows: dict[Any, int] = {}

    def __call__(self, entry: Any) -> None:
        event = entry.dagster_event
        if event is None:
            return
        kind, step = event.event_type_value, event.step_key
        if kind == "ASSET_MATERIALIZATION_PLANNED" and step is not None:
            self.planned[event.asset_key] = step
        elif kind == "STEP_START" and step is not None:
            self.started[step] = entry.timestamp
        elif kind in {"STEP_SUCCESS", "STEP_FAILURE"} and step is not None:
            self.ended[step] = entry.timestamp
            if kind == "STEP_FAILURE":
                self.failed.add(step)
        elif kind in {"ASSET_MATERIALIZATION", "ASSET_OBSERVATION"}:
            if kind == "ASSET_MATERIALIZATION":
                self.materialized.setdefault(event.asset_key, entry.timestamp)
                metadata = event.step_materialization_data.materialization.metadata
            else:
                metadata = event.asset_observation_data.asset_observation.metadata
            rows = metadata.get("dagster/row_count")
            value = getattr(rows, "value", rows)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                self.rows[event.asset_key] = value

    def ordered(self, dbt: list[AssetOutcome], dbt_keys: set[Any]) -> list[AssetOutcome]:
        """``dbt``'s rows and the other assets' rows, those done before dbt started first."""
        dbt_steps = {step for key, step in self.planned.items() if key in dbt_keys}
        dbt_start = min((self.started[s] for s in dbt_steps if s in self.started), default=None)
        before: list[AssetOutcome] = []
        after: list[AssetOutcome] = []
        for when, outcome in sorted(self._others(dbt_keys), key=lambda pair: pair[0]):
            done_first = dbt_start is not None and when < dbt_start
            (before if done_first else after).append(outcome)
        return [*before, *dbt, *after]

    def _others(self, dbt_keys: set[Any]) -> list[tuple[float, AssetOutcome]]:
        found = []
        for key, step in self.planned.items():
            if key in dbt_keys:
                continue
            start = self.started.get(step)
            if key in self.materialized:
                status, when = "success", self.materialized[key]
            elif step in self.failed:
                status, when = "error", self.ended.get(step, start or 0.0)
            elif start is None:
                status, when = "skipped", float("inf")
            else:  # its step succeeded without it (an optional output): nothing to show
                continue
            seconds = 0.0 if start is None or status == "skipped" else max(when - start, 0.0)
            name = key.to_user_string()
            found.append(
                (when, AssetOutcome(name, name, status, seconds, self.rows.get(key), None))
            )
        return found


def _freshness(result: Any) -> tuple[FreshnessVerdict, ...]:
    """Each dbt source's freshness verdict, from the run's ``source_freshness`` results."""
    from floe_scaffold.components._freshness import CHECK_NAME, human_duration

    verdicts = []
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.check_name != CHECK_NAME:
            continue
        metadata = {
            name: getattr(item, "value", item) for name, item in (evaluation.metadata or {}).items()
        }
        unique_id = metadata.get("dbt/unique_id")
        warned = getattr(evaluation.severity, "value", "ERROR") == "WARN"
        status = "fresh" if evaluation.passed else "warn" if warned else "error"
        limit = metadata.get("error_after_seconds" if status == "error" else "warn_after_seconds")
        allowed = (
            human_duration(limit) if status != "fresh" and isinstance(limit, (int, float)) else None
        )
        age, problem = metadata.get("age"), metadata.get("problem")
        verdicts.append(
            FreshnessVerdict(
                source=str(unique_id).split(".", 2)[-1]
                if unique_id
                else evaluation.asset_key.to_user_string(),
                status=status,
                age=str(age) if age else None,
                allowed=allowed,
                problem=str(problem) if problem else None,
            )
        )
    order = {"error": 0, "warn": 1, "fresh": 2}
    return tuple(sorted(verdicts, key=lambda verdict: (order[verdict.status], verdict.source)))


def _stale_failure(result: Any) -> str | None:
    """Why the freshness step failed the run (``freshness.fail_run_on_error``), if it alone did."""
    from floe_scaffold.components._freshness import OP_NAME

    said = None
    for event in result.all_events:
        if not event.is_step_failure:
            continue
        user = event.step_failure_data.user_failure_data
        if event.step_key != OP_NAME or user is None or not user.description:
            return None
        said = str(user.description)
    return said
