"""The ``floe`` command line. One boundary maps every error to an exit code (see ``errors``)."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from floe_scaffold import __version__
from floe_scaffold._dbt_output import DEBUG_VARIABLE, debug_requested, readable_lines
from floe_scaffold.contract import CompiledArtifacts, contract_json_schema_text, load_artifacts
from floe_scaffold.errors import (
    EXIT_CONFLICTS,
    EXIT_INTERRUPTED,
    EXIT_INVALID_INPUT,
    EXIT_OK,
    EXIT_SYSTEM,
    FloeError,
    SystemFailureError,
)
from floe_scaffold.profiles import (
    Environment,
    build_profile,
    default_environment_name,
    render_profiles_yaml,
    write_profiles,
)

if TYPE_CHECKING:
    from floe_scaffold.project._run import FreshnessVerdict

__all__ = ["main", "run"]

EXIT_CODES_HELP = """\b
Exit codes:
  0  success
  1  invalid input (the contract, a property, a name or a path), or a failed run
  2  missing or unreadable file, usage error, or system error
  3  unresolved update conflicts: update applied with conflicts, or run/dev
     found them; resolve the files listed, git add them, then commit
  130  interrupted (Ctrl-C)"""


class RunFailedError(FloeError):
    """An asset of ``floe run`` failed (exit 1); the message is the failure."""

    exit_code = EXIT_INVALID_INPUT


class UpdateConflictsError(FloeError):
    """``floe update`` applied the update, and these files hold conflicts (exit 3)."""

    exit_code = EXIT_CONFLICTS

    def __init__(
        self, root: Path, conflicts: Sequence[str], created: Sequence[str], message: str
    ) -> None:
        count = len(conflicts)
        super().__init__(
            f"{count} file{'s' if count != 1 else ''} with conflicts: the update is applied and "
            "staged, except these files, which hold conflict markers and are unmerged in git's "
            "index"
        )
        self.root = root
        self.conflicts = tuple(conflicts)
        self.created = tuple(created)
        self.commit_message = message

    def lines(self) -> list[str]:
        new = [f"new (staged, nothing to do): {name}" for name in self.created]
        return [
            self.message,
            *self.conflicts,
            *new,
            "to finish: in each conflicted file, keep what you want between <<<<<<< before "
            "updating / ======= / >>>>>>> after updating and delete the marker lines; then, "
            f"in {self.root}:",
            f"  git add -- {shlex.join(self.conflicts)}",
            f"  git commit -m {shlex.quote(self.commit_message)}",
            "(`floe run` and `floe dev` refuse to start until no conflict is left)",
        ]


def _out() -> Console:
    return Console(highlight=False, soft_wrap=True, emoji=False)


def _err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def _printable(text: str) -> str:
    """``text`` on one line, as written: control and other unprintable characters escaped.

    Error lines quote field and property names from the user's file; a newline there must not
    forge another line, nor an escape sequence reach the terminal.
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


@click.group(epilog=EXIT_CODES_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="floe")
def cli() -> None:
    """Stand up and keep up a Dagster + dbt project from a floe CompiledArtifacts contract."""


ArtifactsPath = click.Path(path_type=Path, dir_okay=True)


@cli.command(epilog=EXIT_CODES_HELP)
@click.argument("path", type=ArtifactsPath)
@click.option(
    "--project-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="The project the contract is for, whose dbt project's asset keys are checked "
    "[default: the folder holding .floe/ when PATH is in it, else the current directory].",
)
def validate(path: Path, project_dir: Path | None) -> None:
    """Check a CompiledArtifacts file, and that a dbt profile can be built from it.

    Also warns when asset keys of the dbt project depend on a var, an env var or the target.
    """
    from floe_scaffold.project._context import dbt_dir_of

    artifacts = load_artifacts(path)
    build_profile([Environment(default_environment_name(artifacts), artifacts)])
    _out().print("valid", style="bold green", markup=False)
    _out().print(_summary(artifacts), markup=False)
    if project_dir is None:
        folder = path.resolve().parent
        project_dir = folder.parent if folder.name == ".floe" else Path()
    _warn_about_keys(project_dir, dbt_dir_of(artifacts))


def _warn_about_keys(root: Path, dbt_dir: str | None = None, *, read_manifest: bool = True) -> None:
    """One line on stderr per floe component whose asset keys depend on the environment."""
    from floe_scaffold.components._keys import project_key_warnings

    for line in project_key_warnings(root, dbt_dir, read_manifest=read_manifest):
        _err().print(line, style="yellow", markup=False)


@cli.command(epilog=EXIT_CODES_HELP)
@click.option(
    "--out", "out", type=click.Path(path_type=Path, dir_okay=False), help="Write it to FILE."
)
def schema(out: Path | None) -> None:
    """Print the contract's JSON Schema (Draft 2020-12)."""
    text = contract_json_schema_text()
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as error:
        message = f"cannot write {out}: {error.strerror or error}"
        raise SystemFailureError(message, source=out) from None
    _out().print(str(out), markup=False)


@cli.command(epilog=EXIT_CODES_HELP)
@click.argument("path", type=ArtifactsPath)
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory for profiles.yml [default: the contract's dbt_profiles_path, "
    "inside --project-dir].",
)
@click.option(
    "--env",
    "envs",
    multiple=True,
    metavar="NAME[=ARTIFACTS]",
    help="An output per environment (repeat it); the first is the default target. "
    "NAME=ARTIFACTS builds that environment from its own contract. Variable names then "
    "carry the environment: <PREFIX>_<ENV>_<KEY>.",
)
@click.option(
    "--project-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path(),
    show_default=True,
    help="The project root that dbt_profiles_path is relative to.",
)
@click.option("--profile-name", default="floe", show_default=True, help="dbt profile name.")
def profiles(
    path: Path, out: Path | None, envs: tuple[str, ...], project_dir: Path, profile_name: str
) -> None:
    """Write dbt profiles.yml for the contract's compute target (always overwritten).

    Credentials are never written: each is read with env_var() from a variable named
    <PREFIX>_<KEY>, where PREFIX is compute.connection_secret_ref upper-cased with '-' as '_'
    (or FLOE_<TARGET> without one).
    """
    artifacts = load_artifacts(path)
    environments = _environments(artifacts, envs)
    profile = build_profile(environments, profile_name=profile_name)
    regenerate = shlex.join(
        [
            "floe",
            "profiles",
            str(path),
            *(f"--env={env}" for env in envs),
            *(["--profile-name", profile_name] if profile_name != "floe" else []),
        ]
    )
    text = render_profiles_yaml(profile, regenerate=regenerate, version=__version__)
    written = write_profiles(text, out or project_dir / artifacts.dbt_profiles_path)
    console = _out()
    console.print(str(written), markup=False)
    needed = sorted({var.name for _, var in profile.env_vars})
    if needed:
        console.print(f"set before running dbt: {', '.join(needed)}", style="dim", markup=False)


@cli.command(epilog=EXIT_CODES_HELP)
@click.argument("dest", type=click.Path(path_type=Path, file_okay=False), default=Path())
@click.option(
    "--artifacts",
    type=click.Path(path_type=Path, dir_okay=False),
    help="CompiledArtifacts JSON [default: DEST/.floe/compiled_artifacts.json, else a "
    "built-in DuckDB demo].",
)
@click.option("--name", help="Project and Python package name [default: DEST's name].")
@click.option("--force", is_flag=True, help="Overwrite files that exist with other content.")
def init(dest: Path, artifacts: Path | None, name: str | None, force: bool) -> None:
    """Generate a complete Dagster + dbt project in DEST from a CompiledArtifacts contract."""
    from floe_scaffold.project import init_project

    result = init_project(dest, artifacts=artifacts, name=name, force=force)
    console = _out()
    placement = result.placement
    if result.names.given is not None:
        console.print(
            f"project name {result.names.given!r} normalized to {result.names.distribution!r} "
            f"(package {result.names.package!r}); pass --name to choose another",
            markup=False,
        )
    console.print(
        f"generated {result.names.distribution} in {result.dest} "
        f"(from {result.artifacts_source}; target {result.context.target})",
        style="bold green",
        markup=False,
    )
    for label, names in (("created", placement.created), ("updated", placement.changed)):
        for file in names:
            console.print(f"  {label:8} {file}", markup=False)
    if not result.context.starter_dbt:
        console.print(
            f"  using the existing dbt project in {result.context.dbt_dir}/ (not modified)",
            markup=False,
        )
    if result.template_draft:
        console.print(
            "  note: rendered from uncommitted template changes of a floe-scaffold checkout; "
            "this project records a template commit that exists nowhere else, so `floe update` "
            "cannot re-render it",
            markup=False,
        )
    if result.git_initialized:
        console.print("  git repository initialized with a first commit", markup=False)
    elif result.git_problem:
        console.print(f"  note: no git commit made ({result.git_problem})", markup=False)
    if result.git_identity_borrowed:
        console.print(
            "  note: git has no user identity here, so the first commit was made as "
            "floe-scaffold <floe-scaffold@localhost>; before your own first commit, set yours: "
            "git config --global user.name 'Your Name' && "
            "git config --global user.email you@example.com",
            markup=False,
        )
    where = shlex.quote(str(dest))
    floe, activate = _how_to_call("floe")
    console.print("next:", style="bold", markup=False)
    if activate is not None:
        console.print(f"  . {activate}   # then plain `floe` works too", markup=False)
    console.print(f"  cd {where}", markup=False)
    console.print(f"  {floe} run      # materialize every asset, with a summary", markup=False)
    console.print(f"  {floe} dev      # the Dagster UI", markup=False)
    console.print(
        "  pytest        # the project's own checks (after pip install -e '.[dev]')", markup=False
    )


def _how_to_call(name: str) -> tuple[str, str | None]:
    """How to type ``name`` of this environment in another directory, and its activate script.

    Bare ``name`` when ``PATH`` finds this environment's copy; else its absolute path, and the
    environment's ``activate`` script (when it has one) that would put it on ``PATH``.
    """
    here = Path(sys.executable).absolute().parent
    ours = here / name
    found = shutil.which(name)
    if not ours.exists() or (found is not None and Path(found).resolve() == ours.resolve()):
        return name, None
    activate = here / "activate"
    return shlex.quote(str(ours)), shlex.quote(str(activate)) if activate.exists() else None


@cli.command(epilog=EXIT_CODES_HELP)
@click.argument(
    "dest", type=click.Path(path_type=Path, file_okay=False), default=Path(), required=False
)
@click.option(
    "--artifacts",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A new CompiledArtifacts JSON [default: the project's .floe/compiled_artifacts.json].",
)
@click.option("--diff", is_flag=True, help="Show what would change; change nothing.")
@click.option(
    "--recover",
    is_flag=True,
    help="Only roll back an update that was interrupted (killed) here; every floe command in "
    "the project does this first anyway.",
)
def update(dest: Path, artifacts: Path | None, diff: bool, recover: bool) -> None:
    """Bring the project in DEST up to this floe-scaffold's template and the contract.

    Your own edits are kept (a three-way merge); profiles.yml and the contract copy are
    regenerated. The working tree must be committed first; the update is staged, nothing is
    committed for you.
    """
    from floe_scaffold.project import update_project
    from floe_scaffold.project._update import recover_interrupted_update

    if recover:
        rolled_back = recover_interrupted_update(dest)
        what = "rolled back an interrupted update" if rolled_back else "no interrupted update"
        _out().print(f"{what} in {dest.absolute()}", markup=False)
        return
    result = update_project(dest, artifacts=artifacts, diff=diff)
    console = _out()
    verb = "would update" if diff else "updated"
    if not result.changes:
        console.print(
            f"{result.root} is up to date (template {result.to_commit}, contract from "
            f"{result.artifacts_source})",
            style="bold green",
            markup=False,
        )
        return
    console.print(
        f"{verb} {result.root}: template {result.from_commit} -> {result.to_commit}, contract "
        f"from {result.artifacts_source}",
        style="bold green",
        markup=False,
    )
    conflicted = set(result.conflicts)
    for change in result.changes:
        label = "conflict" if change.path in conflicted else change.status
        console.print(f"  {label:8} {change.path}", markup=False)
    if diff:
        click.echo(result.patch, nl=False)
        return
    message = (
        f"Update the floe contract (floe-scaffold {__version__})"
        if result.from_commit == result.to_commit
        else f"Update to floe-scaffold {__version__}"
    )
    if result.conflicts:
        created = [c.path for c in result.changes if c.status == "created"]
        raise UpdateConflictsError(result.root, result.conflicts, created, message)
    console.print(
        "next: the update is staged; review it with `git diff --cached`, then commit:",
        style="bold",
        markup=False,
    )
    console.print(f"  git commit -m {shlex.quote(message)}", markup=False)


@cli.command("run", epilog=EXIT_CODES_HELP)
@click.option("--select", help="dbt selection of the models to run (default: all).")
@click.option("--exclude", help="dbt selection to leave out of the run (as dbt's --exclude).")
@click.option(
    "--full-refresh",
    is_flag=True,
    help="Rebuild incremental models and snapshots from scratch (dbt's --full-refresh).",
)
@click.option(
    "--vars",
    "dbt_vars",
    metavar="YAML",
    help="dbt variables for this run, a YAML mapping: --vars '{key: value}' (over cli_args').",
)
@click.option(
    "--project-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path(),
    help="The generated project [default: the current directory].",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Format of floe's log lines on stderr (each names its trace, span and lineage run).",
)
@click.option(
    "--debug",
    is_flag=True,
    help="On failure, also show Python tracebacks (dbt's and the failed step's); "
    "FLOE_DEBUG=1 does the same.",
)
def run_command(
    select: str | None,
    exclude: str | None,
    full_refresh: bool,
    dbt_vars: str | None,
    project_dir: Path,
    log_format: str,
    debug: bool,
) -> None:
    """Materialize the project's assets in-process; exit 1 if any fails.

    Before dbt starts, the environment variables the selected dbt profile output reads with
    env_var() (and no default) are checked; each one unset is named. --exclude, --full-refresh
    and --vars are given to dbt for this run only (through the dbt step's run config).
    """
    from floe_scaffold.project import locate_project, run_project
    from floe_scaffold.project._conflicts import refuse_conflicts
    from floe_scaffold.project._run_options import RunOptions, parse_vars

    options = RunOptions(exclude=exclude, full_refresh=full_refresh, dbt_vars=parse_vars(dbt_vars))
    debug = debug_requested(debug)
    if debug:
        os.environ[DEBUG_VARIABLE] = "1"  # for `dbt parse`, run while the definitions load
    _configure_logging(log_format)
    layout = locate_project(project_dir)
    _recover_update(layout.root)
    refuse_conflicts(layout.root)
    console = _out()
    console.print(f"running {layout.package} ...", style="bold", markup=False)

    def progress(status: str, what: str) -> None:
        style = "red" if "fail" in status.lower() else None
        console.print(f"  {status:<16} {what}", style=style, markup=False)

    summary = run_project(
        layout,
        select=select,
        on_progress=progress,
        debug=debug,
        options=options,
        # the check imports Dagster: while dbt starts, not before
        while_dbt_starts=lambda: _warn_about_keys(layout.root, read_manifest=False),
    )
    if not summary.success and summary.failure_lines:
        console.print("failed:", style="bold red", markup=False)
        for line in summary.failure_lines:
            console.print(f"  {line}" if line else "", markup=False)
    table = Table(title=f"run {summary.run_id[:8]} ({summary.seconds:.1f} s)", title_justify="left")
    for column in ("asset", "status", "duration", "rows"):
        table.add_column(column, justify="right" if column in {"duration", "rows"} else "left")
    for outcome in summary.outcomes:
        table.add_row(
            outcome.name,
            outcome.status,
            f"{outcome.seconds:.2f} s",
            "" if outcome.rows is None else str(outcome.rows),
            style="red" if outcome.status == "error" else None,
        )
    console.print(table)
    _print_freshness(console, summary.freshness, failed=not summary.success)
    if summary.record_problem is not None:
        where = f" in {summary.recorded_in}" if summary.recorded_in is not None else ""
        _err().print(
            f"note: the run was not recorded{where} ({summary.record_problem}); `floe dev` "
            "will not show it. Make the directory writable, or set DAGSTER_HOME to another "
            "Dagster instance",
            markup=False,
        )
    elif summary.recorded_in is not None:
        console.print(
            f"recorded in {summary.recorded_in} (`floe dev` shows it)", style="dim", markup=False
        )
    if not summary.success:
        if summary.trace:
            errors = _err()
            errors.print("the failed step's traceback (--debug):", style="bold", markup=False)
            for line in readable_lines(summary.trace):
                errors.print(line, markup=False)
        raise RunFailedError(summary.failure or "the run failed")


@cli.command(epilog=EXIT_CODES_HELP)
@click.option(
    "--project-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path(),
    help="The generated project [default: the current directory].",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=3000, show_default=True, type=int)
def dev(project_dir: Path, host: str, port: int) -> None:
    """Start the Dagster UI (dg dev) for the project; Ctrl-C or SIGTERM stops it.

    Runs are recorded in the project's Dagster instance ($DAGSTER_HOME, else .dagster_home),
    where floe run records too.
    """
    from floe_scaffold.project import locate_project, serve_dev
    from floe_scaffold.project._conflicts import refuse_conflicts

    layout = locate_project(project_dir)
    _recover_update(layout.root)
    refuse_conflicts(layout.root)
    console = _out()
    console.print(f"starting the Dagster UI for {layout.package} ...", markup=False)

    def ready(url: str) -> None:
        console.print(f"the Dagster UI is at {url} (Ctrl-C stops it)", style="bold", markup=False)

    code = serve_dev(layout, host=host, port=port, on_ready=ready)
    console.print("the Dagster UI stopped", markup=False)
    if code != 0:
        raise SystemFailureError(f"dg dev exited with code {code}; its messages are above")


def _print_freshness(
    console: Console, verdicts: Sequence[FreshnessVerdict], *, failed: bool
) -> None:
    """The run's dbt source freshness: counts by severity, then each stale source and why."""
    if not verdicts:
        return
    counts = {status: sum(v.status == status for v in verdicts) for status in ("error", "warn")}
    fresh = len(verdicts) - counts["error"] - counts["warn"]
    said = f"{counts['error']} error, {counts['warn']} warn" + (f", {fresh} fresh" if fresh else "")
    style = "bold red" if counts["error"] else "yellow" if counts["warn"] else None
    console.print(f"source freshness: {said}", style=style, markup=False)
    for verdict in verdicts:
        if verdict.status == "fresh":
            continue
        if verdict.problem is not None:
            why = f"not judged: {verdict.problem}"
        else:
            why = f"newest row {verdict.age} old"
            if verdict.allowed is not None:
                limit = "error_after" if verdict.status == "error" else "warn_after"
                why += f" ({limit} {verdict.allowed})"
        console.print(
            f"  {verdict.status:<6} {verdict.source}: {why}",
            style="red" if verdict.status == "error" else None,
            markup=False,
        )
    if counts["error"] and not failed:
        console.print(
            "a source past its error_after does not fail `floe run` (exit 0); "
            "`freshness: {fail_run_on_error: true}` in the component's defs.yaml attributes "
            "makes it fail (exit 1), as `dbt source freshness` does",
            style="dim",
            markup=False,
        )


def _recover_update(root: Path) -> None:
    """Roll back a ``floe update`` that was killed in this project, before anything else."""
    from floe_scaffold.project._update import recover_interrupted_update

    if recover_interrupted_update(root):
        _err().print(f"note: rolled back an interrupted `floe update` in {root}", markup=False)


@cli.command("lineage", epilog=EXIT_CODES_HELP)
@click.option(
    "--project-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path(),
    help="The generated project [default: the current directory].",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the page to FILE [default: .floe/lineage/lineage.html in the project].",
)
@click.option("--open", "open_page", is_flag=True, help="Open the page in a browser.")
@click.option(
    "--send",
    "send",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[URL]",
    help="Replay the log to an OpenLineage endpoint instead (in order, resumable) [default: "
    "the run's: OPENLINEAGE_URL, OPENLINEAGE_CONFIG or openlineage.yml].",
)
@click.option(
    "--api-key-env",
    metavar="NAME",
    help="With --send: the variable holding the API key [default: OPENLINEAGE_API_KEY].",
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 300),
    default=10.0,
    show_default=True,
    help="With --send: seconds an event may take to arrive.",
)
def lineage_command(
    project_dir: Path,
    out: Path | None,
    open_page: bool,
    send: str | None,
    api_key_env: str | None,
    timeout: float,
) -> None:
    """Write the project's lineage log as one self-contained HTML page, or --send it on.

    The log is .floe/lineage/events.jsonl (and its rotated files), written by runs that have
    no OpenLineage endpoint. With --send, exit 2 if an event did not arrive (run it again to
    send the rest), 1 if the endpoint refused some.
    """
    from floe_scaffold.lineage._command import replay, write_lineage_page

    console = _out()
    if send is not None:
        replay(
            project_dir,
            send,
            api_key_env=api_key_env,
            timeout=timeout,
            report=lambda line: console.print(line, markup=False),
        )
        return
    result = write_lineage_page(project_dir, out)
    console.print(str(result.out), markup=False)
    skipped = f", {result.skipped} unreadable line(s) skipped" if result.skipped else ""
    console.print(
        f"{result.nodes} nodes, {result.edges} edges, {result.runs} run(s) from {result.events} "
        f"events{skipped}; {result.size / 1024:.0f} KiB",
        style="dim",
        markup=False,
    )
    if open_page:
        import webbrowser

        webbrowser.open(result.out.resolve().as_uri())


def _configure_logging(log_format: str) -> None:
    """Send the floe_scaffold loggers to stderr as JSON or text, with trace and span ids."""
    import logging

    from floe_scaffold.tracing import JsonFormatter, TraceContextFilter

    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(TraceContextFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(levelname)s %(name)s: %(message)s [trace_id=%(trace_id)s]")
        )
    floe_logger = logging.getLogger("floe_scaffold")
    floe_logger.setLevel(logging.INFO)
    floe_logger.addHandler(handler)


def _environments(artifacts: CompiledArtifacts, envs: Sequence[str]) -> list[Environment]:
    if not envs:
        return [Environment(default_environment_name(artifacts), artifacts)]
    result = []
    for spec in envs:
        name, _, other = spec.partition("=")
        source = load_artifacts(Path(other)) if other else artifacts
        result.append(Environment(name, source, explicit=True))
    return result


def _summary(artifacts: CompiledArtifacts) -> str:
    """One line: target, transforms, and per signal on/off and where it goes.

    Traces and metrics resolve as a run in this shell would (the contract, then OTEL_*; a
    component's defs.yaml override is not seen here): an endpoint, or "nowhere".
    """
    from floe_scaffold.tracing import resolve_metrics, resolve_tracing

    observability = artifacts.observability
    traces = resolve_tracing(
        service_name="floe",
        contract_enabled=observability.traces,
        contract_endpoint=observability.otlp_endpoint,
    )
    metrics = resolve_metrics(
        service_name="floe",
        contract_enabled=observability.metrics,
        contract_endpoint=observability.otlp_endpoint,
    )

    def switch(on: bool, endpoint: str | None, local: str = "nowhere") -> str:
        if not on:
            return "off"
        return f"on ({endpoint or local})"

    lineage_on = observability.lineage and artifacts.governance.emit_lineage
    transforms = ", ".join(transform.path for transform in artifacts.transforms) or "none"
    return (
        f"target {artifacts.compute.target}; "
        f"{len(artifacts.transforms)} transform(s): {transforms}; "
        f"traces {switch(traces.enabled, traces.endpoint)}, "
        f"lineage {switch(lineage_on, observability.lineage_endpoint, '.floe/lineage/')}, "
        f"metrics {switch(metrics.enabled, metrics.endpoint)}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``floe`` with ``argv`` (default: the process arguments) and return the exit code."""
    try:
        cli.main(
            args=list(argv) if argv is not None else None, prog_name="floe", standalone_mode=False
        )
    except FloeError as error:
        console = _err()
        first, *rest = (_printable(line) for line in error.lines())
        console.print(f"error: {first}", style="bold red", markup=False)
        for line in rest:
            console.print(f"  {line}", markup=False)
        # A tool's own text (dbt's messages): its lines kept, ANSI and control codes not.
        for line in readable_lines(error.output or ""):
            console.print(f"  {line}", markup=False)
        return error.exit_code
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as error:
        error.show()
        return EXIT_SYSTEM
    except click.Abort:
        _err().print("aborted", markup=False)
        return EXIT_SYSTEM
    except KeyboardInterrupt:  # Ctrl-C outside a run's own handling (imports, loading)
        _err().print("interrupted", markup=False)
        return EXIT_INTERRUPTED
    except OSError as error:  # a system error no command worded: still path and reason
        _err().print(f"error: {_printable(_os_error_text(error))}", style="bold red", markup=False)
        return EXIT_SYSTEM
    except (MemoryError, RecursionError) as error:
        _err().print(
            f"error: out of resources ({type(error).__name__}); the input is too large",
            style="bold red",
            markup=False,
        )
        return EXIT_SYSTEM
    return EXIT_OK


def _os_error_text(error: OSError) -> str:
    """``path: reason`` of an OS error (``No space left on device``, ``File name too long``)."""
    reason = error.strerror or str(error) or type(error).__name__
    names = [name for name in (error.filename, error.filename2) if name is not None]
    where = " -> ".join(os.fsdecode(name) for name in names)
    return f"{where}: {reason}" if where else reason


def run() -> None:
    """Console-script entry point (exits without the interpreter's teardown: see _exit.py)."""
    from floe_scaffold._exit import exit_now

    exit_now(main())
