"""``floe run`` failing readably: dbt's lines as lines, no traceback unless asked, secrets first.

The CLI runs as a real subprocess with pipes, so its output is not a terminal: what a user gets
from ``floe run 2>&1 | cat`` or in CI. ``NO_COLOR`` is left unset (dbt ignores it anyway).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from floe_scaffold._dbt_output import (
    TRACEBACK_HINT,
    CleanStream,
    readable_lines,
    without_tracebacks,
)
from floe_scaffold.project import init_project, locate_project
from floe_scaffold.project._credentials import (
    MissingCredentialsError,
    check_credentials,
    profile_outputs,
)
from tests.helpers import contract_for, write_json
from tests.project.conftest import BIN, copy_project, quiet_env

_PG_VARIABLES = ("FLOE_POSTGRES_USER", "FLOE_POSTGRES_PASSWORD")
_DBT_TRACEBACK = """\
Encountered an error:
IO Error: Cannot open file "w.duckdb"
Traceback (most recent call last):
  File "dbt/adapters/duckdb/connections.py", line 110, in exception_handler
    yield
_duckdb.IOException: IO Error: Cannot open file "w.duckdb"

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "dbt/cli/requires.py", line 187, in wrapper
_duckdb.IOException: IO Error: Cannot open file "w.duckdb"

Done."""


def _floe_run(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``floe run`` as a user runs it, piped (not a terminal), with ``env`` added."""
    base = {
        key: value
        for key, value in quiet_env(PYTHONPATH=str(project / "src")).items()
        if key not in {"NO_COLOR", "FLOE_DEBUG", *_PG_VARIABLES}
    }
    return subprocess.run(
        [str(BIN / "floe"), "run", *args],
        cwd=project,
        env={**base, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def _assert_readable(output: str) -> None:
    assert "Traceback" not in output, output
    assert "\\n" not in output, "a line break shown as a literal \\n"
    assert "\x1b" not in output, "an escape sequence in output that is not a terminal"


# Cleaning dbt's text (no subprocess).


def test_readable_lines_keep_lines_and_drop_colours_and_control_codes() -> None:
    text = "\x1b[0m11:36:23 Running\r\n\x1b[31mERROR\x1b[0m in 0.1s\n\tindented\x07\n\n"
    assert readable_lines(text) == ["11:36:23 Running", "ERROR in 0.1s", "    indented\\x07"]


def test_tracebacks_are_left_out_with_a_hint_once() -> None:
    kept = without_tracebacks(_DBT_TRACEBACK.splitlines())
    assert kept == [
        "Encountered an error:",
        'IO Error: Cannot open file "w.duckdb"',
        "Done.",
        TRACEBACK_HINT,
    ]


def test_the_clean_stream_filters_whole_lines_however_they_are_written() -> None:
    target = io.StringIO()
    stream = CleanStream(target, tracebacks=False)
    for chunk in ("\x1b[32mOK\x1b[0m one\nTrace", "back (most recent call last):\n  File x\n"):
        stream.write(chunk)
    stream.write("ValueError: boom\nlast line without a break")
    stream.close()
    assert target.getvalue().splitlines() == ["OK one", TRACEBACK_HINT, "last line without a break"]
    shown = io.StringIO()
    debugging = CleanStream(shown, tracebacks=True)
    debugging.write(_DBT_TRACEBACK + "\n")
    assert "Traceback (most recent call last):" in shown.getvalue()


# The credentials pre-check (no subprocess).


@pytest.fixture(scope="module")
def postgres_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project from a PostgreSQL contract whose server refuses connections at once."""
    contract = contract_for("postgres")
    contract["compute"]["properties"].update(host="127.0.0.1", port=1)
    directory = tmp_path_factory.mktemp("postgres")
    dest = directory / "warehouse"
    init_project(dest, artifacts=write_json(directory, contract), git=False)
    return dest


def test_the_pre_check_reads_the_env_var_references_of_the_selected_output(
    postgres_project: Path,
) -> None:
    layout = locate_project(postgres_project)
    (output,) = profile_outputs(layout)
    assert (output.profile, output.target) == ("floe", "dev")
    with pytest.raises(MissingCredentialsError) as raised:
        check_credentials(layout, environ={"FLOE_POSTGRES_USER": "analyst"})
    assert [(v.name, v.key) for v in raised.value.missing] == [
        ("FLOE_POSTGRES_PASSWORD", "password")
    ]
    check_credentials(layout, environ=dict.fromkeys(_PG_VARIABLES, ""))  # set, even if empty


def test_a_default_makes_a_variable_optional_and_other_outputs_are_not_checked(
    postgres_project: Path, tmp_path: Path
) -> None:
    project = copy_project(postgres_project, tmp_path)
    profiles = project / ".floe/profiles/profiles.yml"
    text = profiles.read_text(encoding="utf-8")
    text = text.replace("env_var('FLOE_POSTGRES_USER')", "env_var('FLOE_POSTGRES_USER', 'me')")
    text += "    prod:\n      type: postgres\n      password: \"{{ env_var('PROD_ONLY') }}\"\n"
    profiles.write_text(text, encoding="utf-8")
    with pytest.raises(MissingCredentialsError) as raised:
        check_credentials(locate_project(project), environ={})
    assert [v.name for v in raised.value.missing] == ["FLOE_POSTGRES_PASSWORD"]


#: A run launched without `floe run` (as the UI's run worker or a schedule launches one): the
#: project's definitions loaded in a fresh Python, every asset executed; the dbt step's failure.
_LAUNCHED = """
import sys
import dagster as dg
from {package}.definitions import defs
job = defs().resolve_implicit_global_asset_job_def()
result = job.execute_in_process(raise_on_error=False)
(failure,) = [e for e in result.all_events if e.is_step_failure and e.step_key == "dbt_build"]
sys.stdout.write(failure.step_failure_data.error.message)
"""


@pytest.mark.slow
def test_a_run_launched_without_floe_run_names_the_unset_password_before_dbt_starts(
    postgres_project: Path, tmp_path: Path
) -> None:
    """dbt itself would log in with the raw `{{ env_var(...) }}` text as the password."""
    project = copy_project(postgres_project, tmp_path)
    package = locate_project(project).package
    env = {
        key: value
        for key, value in quiet_env(PYTHONPATH=str(project / "src")).items()
        if key not in _PG_VARIABLES
    }
    done = subprocess.run(
        [sys.executable, "-c", _LAUNCHED.format(package=package)],
        cwd=project,
        env={**env, "FLOE_POSTGRES_USER": "analyst"},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 environment variable that the dbt profile reads is not set" in done.stdout
    assert "FLOE_POSTGRES_PASSWORD: read by `password` of profile floe, target dev" in done.stdout
    assert "password authentication" not in done.stdout + done.stderr, "dbt never started"


# Real runs (each a `floe run` subprocess, a few seconds to ten each).


@pytest.mark.slow
def test_a_model_with_a_sql_error_is_named_with_dbts_message(
    demo_project: Path, tmp_path: Path
) -> None:
    project = copy_project(demo_project, tmp_path)
    (project / "dbt/models/marts/orders.sql").write_text(
        "select order_id, no_such_column from {{ ref('stg_orders') }}\n", encoding="utf-8"
    )
    done = _floe_run(project)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    _assert_readable(output)
    lines = [line.strip() for line in done.stdout.splitlines()]
    named = lines.index("model orders:")
    message = 'Binder Error: Referenced column "no_such_column" not found in FROM clause!'
    assert message in lines[named:], "dbt's message on its own line, after the node's name"
    table = next(i for i, line in enumerate(lines) if line.startswith("run "))
    assert named < table, "the failure comes before the summary table"
    assert "customers" in done.stdout.split("\nrun ")[-1], "the table follows"
    assert done.stderr.splitlines()[-1].startswith("error: the run failed: model orders")


@pytest.mark.slow
def test_a_connection_error_hides_dbts_traceback_unless_debug(
    demo_project: Path, tmp_path: Path
) -> None:
    project = copy_project(demo_project, tmp_path)
    # dbt-duckdb raises a plain IOException for it, which dbt reports with its traceback.
    (project / "dbt/warehouse.duckdb").write_text("not a database\n", encoding="utf-8")
    done = _floe_run(project)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    _assert_readable(output)
    assert any(
        line.startswith("IO Error:") and "not a valid DuckDB database file" in line
        for line in done.stdout.splitlines()
    ), output
    assert "floe run --debug" in done.stdout
    assert "error: the run failed: dbt stopped with an error" in done.stderr

    debug = _floe_run(project, "--debug")
    assert debug.returncode == 1
    assert "Traceback (most recent call last):" in debug.stdout, "dbt's own traceback"
    assert "Traceback (most recent call last):" in debug.stderr, "the failed step's"
    assert "\x1b" not in debug.stdout + debug.stderr


@pytest.mark.slow
def test_a_failed_parse_shows_dbts_lines(demo_project: Path, tmp_path: Path) -> None:
    project = copy_project(demo_project, tmp_path)
    shutil.rmtree(project / "dbt/target")
    (project / "dbt/models/marts/orders.sql").write_text(
        "select * from {{ ref('stg_orders' }}\n", encoding="utf-8"
    )
    done = _floe_run(project)
    assert done.returncode == 1, done.stdout + done.stderr
    _assert_readable(done.stdout + done.stderr)
    lines = [line.strip() for line in done.stderr.splitlines()]
    assert lines[0].startswith("error: cannot load jaffle.definitions: dbt parse failed for")
    assert "Compilation Error in model orders (models/marts/orders.sql)" in lines
    assert "unexpected '}', expected ')'" in lines
    assert any(line.startswith("dbt parse alone: ") for line in lines)

    debug = _floe_run(project, FLOE_DEBUG="1")
    assert debug.returncode == 1
    assert "Traceback (most recent call last):" in debug.stderr
    assert "Compilation Error in model orders (models/marts/orders.sql)" in debug.stderr


@pytest.mark.slow
def test_missing_credentials_are_named_before_dbt_starts(
    postgres_project: Path, tmp_path: Path
) -> None:
    project = copy_project(postgres_project, tmp_path)
    assert not (project / "dbt/target").exists()
    done = _floe_run(project)
    assert done.returncode == 1, done.stdout + done.stderr
    _assert_readable(done.stdout + done.stderr)
    profiles = project / ".floe/profiles/profiles.yml"
    lines = done.stderr.splitlines()
    assert lines[0] == (
        "error: 2 environment variables that the dbt profile reads are not set, so dbt was "
        "not started"
    )
    for name, key in (("FLOE_POSTGRES_USER", "user"), ("FLOE_POSTGRES_PASSWORD", "password")):
        line = f"  {name}: read by `{key}` of profile floe, target dev, in {profiles}"
        assert line in lines
    assert "export FLOE_POSTGRES_USER=... FLOE_POSTGRES_PASSWORD=..." in done.stderr
    assert not (project / "dbt/target").exists(), "dbt never started (not even dbt parse)"

    # Set (to anything), the check passes and dbt reports the connection, readably.
    passed = _floe_run(project, **dict.fromkeys(_PG_VARIABLES, "anything"))
    output = passed.stdout + passed.stderr
    assert passed.returncode == 1, output
    assert "environment variable" not in passed.stderr
    assert (project / "dbt/target").exists()
    _assert_readable(output)
    assert any(
        "connection to server" in line and "failed" in line for line in passed.stdout.splitlines()
    ), output
