"""Runs at scale (issue 27): ``floe run`` of a real dbt project against plain ``dbt build``.

At each size (100 and 1,000 models; ``--quick``: 100) a runnable DuckDB dbt project is written
by tests/runnable.py (1 seed, 10 layers: layer 0 tables over the seed, every later layer views
over two parents; a ``not_null`` test per model) and adopted as a user would: the dbt project
in a folder (``proj/scale_dbt/``), a CompiledArtifacts contract naming it and its DuckDB file
(``scale.duckdb``, relative to the dbt project), then ``floe init . --artifacts contract.json``
in ``proj``. Each variant has a copy of its own, so each keeps its own partial parse warm, as a
user's project does. The variants, alternated (A, B, C, …, A, B, C, …) in the same run:

* ``dbt build``: plain ``dbt build --profiles-dir <the dbt project>`` in the dbt project, as a
  user types it, no other flag (the baseline of every ratio);
* ``floe run``: the generated project as it is;
* ``floe run`` with one feature off in the component's ``defs.yaml`` (``attributes``):
  ``lineage: {enabled: false}`` (by default a JSON Lines file, ``.floe/lineage/events.jsonl``),
  ``tracing: {enabled: false}`` (by default spans made, none exported), ``metrics: {enabled:
  false}`` (with no endpoint there are no metrics at all: expect no difference),
  ``table_metadata: {row_counts: false, column_types: false}``, ``column_lineage: false``; and
  "not recorded": ``floe run``
  in a child process with ``project._run.RunRecorder`` replaced by one that does nothing (as
  bench/instance.py does it), so the run is not copied into ``.dagster_home``. Each feature's
  share per model is the default run's time minus the run without it, run by run (runs of one
  alternation pair up), divided by the model count;
* ``UI run``: ``floe dev`` started on the project (the time it takes to start is not counted),
  then a run of every asset and check launched with Dagster's GraphQL API (``launchRun`` of the
  location's ``__ASSET_JOB`` with no selection, the names read from ``workspaceOrError``
  first), what the UI's "Materialize all" asks for; its time is from the launch request to the
  run's ``RUN_SUCCESS`` (the run record's end time), which includes the wait in the queue until
  Dagster's daemon launches it (also shown alone: launch to ``RUN_START``). ``floe dev`` is
  stopped with SIGINT after each run, so it takes no CPU from the other variants.

Before every run of every variant the DuckDB file is deleted and so are dbt's run artefacts in
``target/`` (all but what parsing keeps: ``partial_parse.msgpack``, ``manifest.json``,
``semantic_manifest.json``, ``perf_info.json`` and floe's ``floe_*`` caches) and ``logs/``, so
each run starts from an empty warehouse with a warm parse. The warm-up is one run of each
variant that builds the seed only (``--select raw_events``): it parses the project (dbt's partial
parse, floe's manifest and spec cache) and warms imports and OS caches for a fraction of a full
run. 5 timed runs at 100 models, 3 from 1,000, 1 from 5,000; ``--quick`` 1.

Beside each time: CPU seconds (user + system) of the command and every process under it, from
``os.wait4`` (the UI run has none); the peak memory of the largest process (``ru_maxrss`` of the
child as ``wait4`` returns it, which covers every descendant it waited for, and the largest
``VmHWM`` seen in /proc); and the peak of the whole tree's summed RSS (``sum``), sampled from
/proc every 0.1 s (a sweep takes about 2 ms, the same for every variant). For the UI run both
are taken from the processes that appear under ``floe dev`` once the run is launched (the run
worker the code server spawns, its step process, dbt).

Alone, for some sizes: ``python -m bench.runs --models 100,1000,5000 --runs 3`` (the record goes
to ``bench/results/runs.json``); ``FLOE_BENCH_RUNS_SIZES=100,1000,5000`` sets the sizes for
``python -m bench.run`` too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import yaml

from bench._process import BIN, ENV
from bench._process import run as run_process
from bench._timing import Figure, alternate, figure, with_ratio
from bench._variants import FLOE_RUN_VARIANT
from bench.project import _free_port, _stop, _wait_for_assets
from tests.helpers import build_contract, write_json
from tests.runnable import runnable_project

SIZES = (100, 1_000)
QUICK_SIZES = (100,)
SIZES_VARIABLE = "FLOE_BENCH_RUNS_SIZES"
LARGE = 1_000  # from this size on: 3 runs
HUGE = 5_000  # and from this one: 1 run
DBT_FOLDER = "scale_dbt"
DUCKDB_FILE = "scale.duckdb"
SEED = "raw_events"
#: what parsing leaves in target/ (kept between runs); floe's own caches are ``floe_*``
PARSE_STATE = frozenset(
    {"partial_parse.msgpack", "manifest.json", "semantic_manifest.json", "perf_info.json"}
)
TIMEOUT = 3600.0  # seconds, for any one run
SAMPLE_SECONDS = 0.1

DBT_BUILD = "dbt build"
FLOE_RUN = "floe run"
NOT_RECORDED = "floe run, not recorded"
UI_RUN = "UI run"
ASSET_JOB = "__ASSET_JOB"  # the job of every asset, in every Dagster repository
#: feature → the ``attributes`` that switch it off in the component's defs.yaml
FEATURES: dict[str, dict[str, Any]] = {
    "lineage": {"lineage": {"enabled": False}},
    "tracing": {"tracing": {"enabled": False}},
    "metrics": {"metrics": {"enabled": False}},
    "table metadata": {"table_metadata": {"row_counts": False, "column_types": False}},
    "column lineage": {"column_lineage": False},
}
#: feature → the variant without it
WITHOUT = {
    **{feature: f"floe run, no {feature}" for feature in FEATURES},
    "instance recording": NOT_RECORDED,
}

#: no endpoint from the caller's environment and each project's own .dagster_home
_ENV = {
    key: value
    for key, value in ENV.items()
    if key != "DAGSTER_HOME" and not key.startswith(("OTEL_", "OPENLINEAGE"))
}


@dataclass(frozen=True)
class Sample:
    """One run: wall seconds, CPU seconds, MiB of the largest process and of the tree's sum.

    ``started`` is the UI run's launch request to ``RUN_START``; ``cpu`` is None for it.
    """

    seconds: float
    cpu: float | None
    peak: float
    total: float
    started: float | None = None


def _parent(process: Path) -> int | None:
    try:
        stat = (process / "stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[1])  # after "pid (comm)": state, ppid, …


def _descendants(root: int) -> set[int]:
    """Every process under ``root`` now (not ``root`` itself)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            parent = _parent(entry)
            if parent is not None:
                children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _memory_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of ``pid`` in KiB; zeros once it is gone."""
    rss = hwm = 0
    try:
        with Path(f"/proc/{pid}/status").open(encoding="utf-8") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return rss, hwm


class TreeMemory:
    """Samples a process tree's memory every 0.1 s in a thread, while in the ``with`` block.

    ``root`` itself counts unless it is in ``excluded``, as does every descendant that is not:
    ``peak`` is the largest process's RSS high-water mark, ``total`` the largest sum of the RSS
    of all of them at one sample, both in MiB.
    """

    def __init__(self, root: int, *, excluded: frozenset[int] = frozenset()) -> None:
        self.root, self.excluded = root, excluded
        self.peak_kib: dict[int, int] = {}
        self.total_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak(self) -> float:
        return max(self.peak_kib.values(), default=0) / 1024

    @property
    def total(self) -> float:
        return self.total_kib / 1024

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(SAMPLE_SECONDS)

    def _sample(self) -> None:
        total = 0
        for pid in (_descendants(self.root) | {self.root}) - self.excluded:
            rss, hwm = _memory_kib(pid)
            total += rss
            if hwm:
                self.peak_kib[pid] = max(hwm, self.peak_kib.get(pid, 0))
        self.total_kib = max(self.total_kib, total)


def _output(output: IO[bytes]) -> str:
    output.seek(0)
    return output.read().decode("utf-8", errors="replace")


def _tail(output: IO[bytes]) -> str:
    return _output(output)[-6000:]


def _command(command: Sequence[str], cwd: Path) -> Sample:
    """Run ``command`` in ``cwd`` to completion: its wall and CPU time and memory; fail loudly."""
    with tempfile.TemporaryFile() as output:
        start = time.perf_counter()
        process = subprocess.Popen(
            list(command), cwd=cwd, env=_ENV, stdout=output, stderr=subprocess.STDOUT
        )
        watchdog = threading.Timer(TIMEOUT, process.kill)
        watchdog.start()
        try:
            with TreeMemory(process.pid) as tree:
                _, status, usage = os.wait4(process.pid, 0)
        finally:
            watchdog.cancel()
        elapsed = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            shown = " ".join(command)[:300]
            raise RuntimeError(f"{shown} failed ({process.returncode}) in {cwd}:\n{_tail(output)}")
    return Sample(
        elapsed,
        usage.ru_utime + usage.ru_stime,
        max(usage.ru_maxrss / 1024, tree.peak),  # ru_maxrss: KiB on Linux
        tree.total,
    )


def _empty_warehouse(dbt_dir: Path) -> None:
    """Delete the DuckDB file, dbt's logs and its run artefacts; keep what parsing keeps."""
    for path in dbt_dir.glob(f"{DUCKDB_FILE}*"):  # the database and its write-ahead log
        path.unlink()
    shutil.rmtree(dbt_dir / "logs", ignore_errors=True)
    target = dbt_dir / "target"
    for path in target.iterdir() if target.is_dir() else []:
        if path.name in PARSE_STATE or path.name.startswith("floe_"):
            continue
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def _plain(where: Path, models: int) -> Path:
    """The dbt project alone, as a dbt user has it (its profiles.yml beside it)."""
    return runnable_project(where / "plain" / DBT_FOLDER, models=models)


def _adopted(where: Path, name: str, models: int, attributes: Mapping[str, Any]) -> Path:
    """The dbt project adopted with ``floe init --artifacts``; ``attributes`` set in defs.yaml."""
    folder = where / name
    project = folder / "proj"
    dbt_dir = runnable_project(project / DBT_FOLDER, models=models)
    contract = build_contract(
        compute={"target": "duckdb", "properties": {"path": DUCKDB_FILE}},
        transforms=[{"type": "dbt", "path": f"./{DBT_FOLDER}"}],
    )
    artifacts = write_json(folder, contract, "contract.json")
    run_process([str(BIN / "floe"), "init", ".", "--artifacts", str(artifacts)], project, _ENV)
    generated = yaml.safe_load((project / ".floe/profiles/profiles.yml").read_text("utf-8"))
    own = yaml.safe_load((dbt_dir / "profiles.yml").read_text(encoding="utf-8"))
    if generated != own:  # same DuckDB file and threads, or the comparison is unfair
        raise RuntimeError(f"floe's profile {generated} is not the dbt project's own {own}")
    if attributes:
        defs_yaml = next((project / "src").glob("*/defs/dbt_project/defs.yaml"))
        loaded = yaml.safe_load(defs_yaml.read_text(encoding="utf-8"))
        loaded["attributes"].update(attributes)
        defs_yaml.write_text(yaml.safe_dump(loaded, sort_keys=False), encoding="utf-8")
    return project


def _graphql(port: int, query: str, variables: Mapping[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": dict(variables or {})}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback
        answer = json.load(response)
    if answer.get("errors"):
        raise RuntimeError(f"GraphQL errors: {answer['errors']}")
    return answer["data"]


_WORKSPACE = """{ workspaceOrError { __typename ... on PythonError { message }
  ... on Workspace { locationEntries { name locationOrLoadError { __typename
    ... on PythonError { message }
    ... on RepositoryLocation { name repositories { name jobs { name } } } } } } } }"""
_DAEMON = """{ instance { daemonHealth {
  daemonStatus(daemonType: "QUEUED_RUN_COORDINATOR") { healthy } } } }"""
_LAUNCH = """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on InvalidSubsetError { message } ... on RunConfigValidationInvalid { errors { message } }
  ... on InvalidStepError { invalidStepKey } ... on InvalidOutputError { invalidOutputName }
  ... on PipelineNotFoundError { message } ... on RunConflict { message }
  ... on UnauthorizedError { message } ... on PresetNotFoundError { message }
  ... on ConflictingExecutionParamsError { message } ... on NoModeProvidedError { message } } }"""
_RUN = """query($runId: ID!) { runOrError(runId: $runId) { __typename
  ... on Run { status startTime endTime } ... on PythonError { message } } }"""


def _asset_job(port: int) -> dict[str, str]:
    """The selector of the job that materializes every asset, as the workspace names it."""
    workspace = _graphql(port, _WORKSPACE)["workspaceOrError"]
    found = []
    for entry in workspace.get("locationEntries", []):
        location = entry["locationOrLoadError"] or {}
        if location.get("__typename") != "RepositoryLocation":
            raise RuntimeError(f"code location {entry['name']} did not load: {location}")
        found += [
            {
                "repositoryLocationName": location["name"],
                "repositoryName": repository["name"],
                "jobName": ASSET_JOB,
            }
            for repository in location["repositories"]
            if any(job["name"] == ASSET_JOB for job in repository["jobs"])
        ]
    if len(found) != 1:
        raise RuntimeError(f"expected one {ASSET_JOB} in the workspace, found: {workspace}")
    return found[0]


def _wait_for_ui(process: subprocess.Popen[bytes], log: IO[bytes], port: int) -> None:
    """Until floe says the UI is up, the assets are served and the run queue's daemon is up."""
    start = time.perf_counter()
    while "the Dagster UI is at" not in _output(log):
        if process.poll() is not None or time.perf_counter() - start > TIMEOUT / 6:
            raise RuntimeError(f"floe dev did not start:\n{_tail(log)}")
        time.sleep(0.2)
    _wait_for_assets(port, time.perf_counter())
    while not _graphql(port, _DAEMON)["instance"]["daemonHealth"]["daemonStatus"]["healthy"]:
        if time.perf_counter() - start > TIMEOUT / 6:
            raise RuntimeError(f"the run queue's daemon is not healthy:\n{_tail(log)}")
        time.sleep(0.5)


def _launched_run(port: int, selector: Mapping[str, str]) -> tuple[str, float, float]:
    """Launch every asset's run; its status, and seconds from the request to its start and end."""
    launched = time.time()
    params = {"selector": dict(selector), "runConfigData": {}}
    answer = _graphql(port, _LAUNCH, {"params": params})["launchRun"]
    if answer["__typename"] != "LaunchRunSuccess":
        raise RuntimeError(f"launchRun failed: {answer}")
    run_id = answer["run"]["runId"]
    while time.time() - launched < TIMEOUT:
        time.sleep(0.5)
        run = _graphql(port, _RUN, {"runId": run_id})["runOrError"]
        if run.get("status") in ("SUCCESS", "FAILURE", "CANCELED"):
            started = (run["startTime"] or launched) - launched
            return str(run["status"]), started, (run["endTime"] or time.time()) - launched
    raise RuntimeError(f"run {run_id} did not end within {TIMEOUT:.0f} s")


def _ui_run(project: Path, dbt_dir: Path) -> Sample:
    """Start ``floe dev``, launch a run of every asset, wait for its end, stop ``floe dev``."""
    port = _free_port()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [str(BIN / "floe"), "dev", "--project-dir", str(project), "--port", str(port)],
            cwd=project,
            env=_ENV,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_for_ui(process, log, port)
            selector = _asset_job(port)
            _empty_warehouse(dbt_dir)
            before = frozenset(_descendants(process.pid) | {process.pid})
            with TreeMemory(process.pid, excluded=before) as tree:
                status, started, ended = _launched_run(port, selector)
            if status != "SUCCESS":
                raise RuntimeError(f"the UI-launched run ended {status}:\n{_tail(log)}")
        finally:
            _stop(process)
    return Sample(ended, None, tree.peak, tree.total, started)


def _variants(
    where: Path, models: int, *, ui: bool, ablation: bool = True
) -> dict[str, tuple[Callable[[], Sample], Callable[[], object]]]:
    """Per variant: its timed run and its warm-up (the seed only), projects made."""
    floe = str(BIN / "floe")
    plain = _plain(where, models)
    script = where / "not_recorded.py"
    script.write_text(FLOE_RUN_VARIANT, encoding="utf-8")
    dbt = [str(BIN / "dbt"), "build", "--profiles-dir", str(plain)]
    found: dict[str, tuple[Callable[[], Sample], Callable[[], object]]] = {
        DBT_BUILD: (
            lambda: _fresh(plain, dbt, plain),
            lambda: _command([*dbt, "--select", SEED], plain),
        )
    }

    def floe_variant(name: str, command: list[str], attributes: Mapping[str, Any]) -> None:
        project = _adopted(where, name.replace(" ", "_").replace(",", ""), models, attributes)
        found[name] = (
            lambda: _fresh(project / DBT_FOLDER, command, project),
            lambda: _command([*command, "--select", SEED], project),
        )

    floe_variant(FLOE_RUN, [floe, "run"], {})
    if ablation:
        for feature, attributes in FEATURES.items():
            floe_variant(WITHOUT[feature], [floe, "run"], attributes)
        floe_variant(NOT_RECORDED, [sys.executable, str(script), "memory", "run"], {})
    if ui:
        project = _adopted(where, "ui", models, {})
        found[UI_RUN] = (
            lambda: _ui_run(project, project / DBT_FOLDER),
            lambda: _command([floe, "run", "--select", SEED], project),
        )
    return found


def _fresh(dbt_dir: Path, command: list[str], cwd: Path) -> Sample:
    _empty_warehouse(dbt_dir)
    return _command(command, cwd)


def _reported(name: str, action: Callable[[], Sample]) -> Callable[[], Sample]:
    """``action`` printing its sample when done (a progress line)."""

    def wrapped() -> Sample:
        sample = action()
        cpu = f", CPU {sample.cpu:.1f} s" if sample.cpu is not None else ""
        started = f", started after {sample.started:.1f} s" if sample.started is not None else ""
        print(
            f"    {name}: {sample.seconds:.1f} s{started}{cpu}, peak {sample.peak:.0f} MiB, "
            f"sum {sample.total:.0f} MiB",
            flush=True,
        )
        return sample

    return wrapped


def _on_series(
    name: str, values: Sequence[float], series: str | None, models: int, *, unit: str = "s"
) -> Figure:
    """A figure of one size; with a ``series``, the growth with the model count is told."""
    label = f"{name}, {models:,} models"
    return replace(figure(label, values, unit=unit), series=series, models=models)


#: quantity beside the time → its value in a sample
_QUANTITIES: dict[str, Callable[[Sample], float | None]] = {
    "CPU": lambda sample: sample.cpu,
    "peak": lambda sample: sample.peak,
    "sum": lambda sample: sample.total,
}


def _figures(samples: Mapping[str, list[Sample]], models: int) -> list[Figure]:
    """Time, shares, CPU, peak and summed memory of every variant, each against dbt build."""
    times = {
        name: _on_series(name, [s.seconds for s in runs], f"run time, {name}", models)
        for name, runs in samples.items()
    }
    base = times[DBT_BUILD]
    figures = [base, *(with_ratio(f, base) for name, f in times.items() if name != DBT_BUILD)]
    default = times[FLOE_RUN].samples
    for feature, variant in WITHOUT.items():
        if variant not in times:  # --no-ablation
            continue
        shares = [(a - b) / models for a, b in zip(default, times[variant].samples, strict=True)]
        figures.append(_on_series(f"{feature} per model", shares, None, models))
        # The CPU seconds a feature costs, steadier than wall time on a shared machine.
        pairs = zip(samples[FLOE_RUN], samples[variant], strict=True)
        cpu = [
            (a.cpu - b.cpu) / models for a, b in pairs if a.cpu is not None and b.cpu is not None
        ]
        if cpu:
            figures.append(_on_series(f"{feature} CPU per model", cpu, None, models))
    if UI_RUN in samples:
        figures.append(
            _on_series(
                "UI run, launch to RUN_START",
                [s.started or 0.0 for s in samples[UI_RUN]],
                "run start, UI run",
                models,
            )
        )
    for quantity, unit in (("CPU", "s"), ("peak", "MiB"), ("sum", "MiB")):
        measured = {}
        for name, runs in samples.items():
            values = [_QUANTITIES[quantity](s) for s in runs]
            numbers = [value for value in values if value is not None]
            if len(numbers) == len(values):  # the UI run has no CPU time
                series = f"run {quantity}, {name}" if quantity != "CPU" else None
                label = f"{quantity}, {name}"
                measured[name] = _on_series(label, numbers, series, models, unit=unit)
        base = measured[DBT_BUILD]
        figures += [base, *(with_ratio(f, base) for name, f in measured.items() if f is not base)]
    return figures


def _size(where: Path, models: int, runs: int, *, ui: bool, ablation: bool) -> list[Figure]:
    started = time.perf_counter()
    variants = _variants(where, models, ui=ui, ablation=ablation)
    print(
        f"  {models:,} models: {len(variants)} projects made in "
        f"{time.perf_counter() - started:.0f} s; warm-up (the seed only, --select {SEED}) ...",
        flush=True,
    )
    for _, warm_up in variants.values():
        warm_up()
    print(f"  {models:,} models: {runs} alternating run(s); load average {_load_average()}")
    timed = {name: _reported(name, action) for name, (action, _) in variants.items()}
    measured = alternate(timed, runs=runs, warmup=0)
    samples = {name: [sample for _, sample in pairs] for name, pairs in measured.items()}
    print(f"  {models:,} models measured; load average {_load_average()}", flush=True)
    return _figures(samples, models)


def _load_average() -> str:
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def _plan(models: int, runs: int | None, *, quick: bool) -> int:
    """Timed runs at a size: as asked, else 1 for --quick and fewer for the large sizes."""
    if runs is not None:
        return runs
    if quick or models >= HUGE:
        return 1
    return 3 if models >= LARGE else 5


def _sizes_from_environment() -> tuple[int, ...] | None:
    value = os.environ.get(SIZES_VARIABLE, "").strip()
    return tuple(int(size) for size in value.split(",")) if value else None


def run(
    *,
    quick: bool,
    sizes: tuple[int, ...] | None = None,
    runs: int | None = None,
    ui: bool = True,
    ablation: bool = True,
) -> list[Figure]:
    """Measure and return the figures of this benchmark."""
    sizes = sizes or _sizes_from_environment() or (QUICK_SIZES if quick else SIZES)
    print(
        f"runs at scale, sizes {', '.join(f'{size:,}' for size in sizes)}: dbt build, floe run "
        f"and each feature off{', a UI-launched run' if ui else ''}, alternating, each from an "
        f"empty warehouse; load average {_load_average()}",
        flush=True,
    )
    figures: list[Figure] = []
    for models in sizes:
        with tempfile.TemporaryDirectory(prefix="floe-bench-runs-") as scratch:
            runs_here = _plan(models, runs, quick=quick)
            figures += _size(Path(scratch), models, runs_here, ui=ui, ablation=ablation)
    return figures


def main(argv: list[str] | None = None) -> int:
    """Measure some sizes alone; print the table and growth; write runs.json."""
    from bench._machine import machine
    from bench._results import print_growth, write
    from bench._table import table

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", help="sizes, comma-separated (default: 100,1000)")
    parser.add_argument("--runs", type=int, help="timed runs at every size (default: by size)")
    parser.add_argument("--quick", action="store_true", help="100 models, 1 run")
    parser.add_argument("--no-ui", action="store_true", help="leave the UI-launched run out")
    parser.add_argument(
        "--no-ablation", action="store_true", help="floe run as generated only, no feature off"
    )
    args = parser.parse_args(argv)
    sizes = tuple(int(size) for size in args.models.split(",")) if args.models else None
    date, where = time.strftime("%Y-%m-%d %H:%M %Z"), machine()
    print(f"{date} on {where}; load average {_load_average()}", flush=True)
    started = time.perf_counter()
    figures = run(
        quick=args.quick,
        sizes=sizes,
        runs=args.runs,
        ui=not args.no_ui,
        ablation=not args.no_ablation,
    )
    print(table(figures) + "\n")
    print_growth(figures)
    record = {
        "date": date,
        "machine": where,
        "quick": args.quick,
        "suites": ["runs"],
        "sizes": sorted({figure.models for figure in figures if figure.models}),
        "seconds": round(time.perf_counter() - started, 1),
        "load_average_at_end": _load_average(),
        "failed": {},
    }
    write("runs", record, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
