"""Bounded inputs, OS errors worded, init that says when it failed, names that can run (issue 18).

Findings 2 (unbounded reads), 3 (tracebacks: a name too long, a 5,000-digit number, a full
disk), 4 (``init`` reporting success without its commit; two ``init`` at once) and 5 (names
that cannot run), each on the real CLI: special files are real FIFOs and devices, the failing
commit is git's own refusal (an author date it cannot read), the full disk is the kernel's
RLIMIT_FSIZE, the concurrent ``init`` are two processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from floe_scaffold._bounded import MAX_CONTRACT_BYTES
from floe_scaffold.project import TemplateSource, init_project, project_names
from floe_scaffold.project import _init as init_module
from floe_scaffold.project._names import ProjectNames
from tests.helpers import FloeRunner, build_contract
from tests.project.template_repo import TemplateRepo, git

FLOE = [sys.executable, "-m", "floe_scaffold"]


def floe_process(
    *args: str, timeout: float = 120, **options: object
) -> subprocess.CompletedProcess[str]:
    """``floe ARGS`` in a child process; a hang fails the test after ``timeout`` seconds."""
    return subprocess.run(  # type: ignore[call-overload,no-any-return]
        [*FLOE, *args], capture_output=True, text=True, check=False, timeout=timeout, **options
    )


def assert_worded(stderr: str, *needles: str) -> None:
    """An ``error:`` line, no traceback, and each needle in the text."""
    assert "Traceback" not in stderr, stderr
    assert stderr.startswith("error: "), stderr
    for needle in needles:
        assert needle in stderr, stderr


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated project, committed (what ``floe update`` needs)."""
    dest = tmp_path_factory.mktemp("inputs") / "demo"
    assert init_project(dest).git_initialized
    return dest


# ---- finding 2: every read bounded ----------------------------------------------------------


@pytest.fixture
def special(tmp_path: Path, request: pytest.FixtureRequest) -> tuple[Path, str]:
    """A path that is not a readable contract file, and what floe must call it."""
    kind = request.param
    if kind == "fifo":
        path = tmp_path / "fifo.json"
        os.mkfifo(path)
        return path, "is a FIFO (named pipe), not a regular file"
    if kind == "device":
        return Path("/dev/zero"), "is a device, not a regular file"
    if kind == "directory":
        (tmp_path / "dir.json").mkdir()
        return tmp_path / "dir.json", "is a directory"
    path = tmp_path / "huge.json"
    with path.open("wb") as handle:
        handle.truncate(MAX_CONTRACT_BYTES + 1)
    return path, f"is larger than {MAX_CONTRACT_BYTES // 1024} KiB"


KINDS = ["fifo", "device", "directory", "huge"]


@pytest.mark.parametrize("special", KINDS, indirect=True)
def test_validate_refuses_a_special_or_huge_file_at_once(special: tuple[Path, str]) -> None:
    path, words = special
    done = floe_process("validate", str(path), timeout=60)
    assert done.returncode == 2, done.stderr
    assert_worded(done.stderr, str(path), words)


@pytest.mark.parametrize("special", ["fifo", "device"], indirect=True)
def test_init_and_update_refuse_a_fifo_or_device_contract_at_once(
    special: tuple[Path, str], project: Path, tmp_path: Path
) -> None:
    path, words = special
    dest = tmp_path / "dest"
    done = floe_process("init", str(dest), "--artifacts", str(path), timeout=60)
    assert done.returncode == 2, done.stderr
    assert_worded(done.stderr, words)
    assert not dest.exists()
    done = floe_process("update", str(project), "--artifacts", str(path), timeout=60)
    assert done.returncode == 2, done.stderr
    assert_worded(done.stderr, words)
    assert git(project, "status", "--porcelain") == ""


def _with_raw(tmp_path: Path, field: str, raw: str) -> Path:
    """A valid contract whose ``compute.properties[field]`` is the JSON text ``raw``."""
    text = json.dumps(build_contract(compute={"target": "duckdb", "properties": {field: 0}}))
    path = tmp_path / "contract.json"
    path.write_text(text.replace(f'"{field}": 0', f'"{field}": {raw}'), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        ("1" + "0" * 5000, "is an integer of 5001 digits; at most 18 are allowed"),
        ("-" + "9" * 19, "is an integer of 19 digits"),
        ("1e400", "is too large a number"),
        ("0." + "1" * 50, "a number written in 52 characters"),
        (json.dumps("x" * 70_000), "is a string of 70000 characters; at most 65536"),
        (json.dumps(list(range(10_001))), "has 10001 entries; at most 10000"),
        ("[" * 70 + "]" * 70, "nested more than 64 levels deep"),
    ],
    ids=["5000-zeros", "19-digits", "1e400", "long-float", "long-string", "long-list", "deep"],
)
def test_values_beyond_the_limits_are_refused_with_their_field_path(
    floe: FloeRunner, tmp_path: Path, raw: str, said: str
) -> None:
    result = floe("validate", _with_raw(tmp_path, "threads", raw))
    assert result.exit_code == 1, result.stderr
    assert "compute.properties.threads" in result.stderr, result.stderr
    assert said in result.stderr, result.stderr


# ---- finding 3: OS errors worded, never a traceback ------------------------------------------


def test_a_name_too_long_is_worded_in_init_run_update_and_validate(
    floe: FloeRunner, tmp_path: Path
) -> None:
    long = tmp_path / ("a" * 300)
    for args in (
        ("init", long, "--name", "demo"),
        ("init", tmp_path / "ok", "--artifacts", long / "c.json"),
        ("update", long),
        ("run", "--project-dir", long),
        ("validate", long / "c.json"),
    ):
        result = floe(*args)
        assert result.exit_code == 2, (args, result.stderr)
        assert_worded(result.stderr, "File name too long")
    assert not (tmp_path / "ok").exists()


def _fsize_limit(size: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


def test_a_full_disk_is_worded_with_path_and_reason(tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes the kernel refuse writes past 2 KiB (EFBIG), as a full disk would."""
    dest = tmp_path / "demo"
    done = floe_process("init", str(dest), preexec_fn=lambda: _fsize_limit(2048))
    assert done.returncode == 2, done.stderr
    # the first write refused: copier's render ("File too large", with the file), or git's
    # snapshot of a checkout's uncommitted template (git's words, or how it exited)
    assert_worded(done.stderr, "/")
    assert "File too large" in done.stderr or "git " in done.stderr, done.stderr
    assert "(None)" not in done.stderr
    assert not dest.exists()


# ---- finding 4: init fails loudly and alone ----------------------------------------------------


def test_init_whose_commit_fails_exits_2_and_a_rerun_finishes_it(
    floe: FloeRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A released template (this checkout's may hold uncommitted changes, snapshotted by a
    # commit that the date below would fail too).
    source = TemplateRepo(tmp_path / "template").source("v0.1.0")

    @contextlib.contextmanager
    def released() -> Iterator[TemplateSource]:
        yield source

    monkeypatch.setattr(init_module, "installed_template", released)
    dest = tmp_path / "demo"
    monkeypatch.setenv("GIT_AUTHOR_DATE", "not a date")  # git itself refuses the commit

    result = floe("init", dest)

    assert result.exit_code == 2, result.stderr
    assert_worded(result.stderr, "git could not make its first commit", "run the same")
    assert (dest / "pyproject.toml").is_file()
    assert not (dest / ".git").exists()  # the documented state: files, no repository

    monkeypatch.delenv("GIT_AUTHOR_DATE")
    result = floe("init", dest)

    assert result.exit_code == 0, result.stderr
    assert git(dest, "log", "--format=%s").count("\n") == 1
    assert git(dest, "status", "--porcelain", "--untracked-files=all") == ""
    answers = yaml.safe_load((dest / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["floe"]["starter_dbt"] is True


def test_a_second_init_into_a_folder_being_generated_is_refused(
    floe: FloeRunner, tmp_path: Path
) -> None:
    dest = tmp_path / "demo"
    dest.mkdir()
    holder = os.open(dest, os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)  # what a running `floe init` holds
    try:
        result = floe("init", dest)
    finally:
        os.close(holder)
    assert result.exit_code == 2
    assert_worded(result.stderr, "another `floe init` is writing into")
    assert list(dest.iterdir()) == []


def test_two_inits_at_once_never_interleave(tmp_path: Path) -> None:
    dest = tmp_path / "demo"
    children = [
        subprocess.Popen(
            [*FLOE, "init", str(dest)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outcomes = []
    for child in children:
        _, stderr = child.communicate(timeout=300)
        outcomes.append((child.returncode, stderr))
    for code, stderr in outcomes:
        assert code in {0, 2}, stderr
        if code == 2:
            assert "another `floe init` is writing into" in stderr, stderr
    assert 0 in {code for code, _ in outcomes}
    assert git(dest, "status", "--porcelain", "--untracked-files=all") == ""
    assert git(dest, "log", "--format=%s").count("\n") == 1


# ---- finding 5: names that can run --------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("yaml", "would shadow the module yaml the project imports"),
        ("pydantic", "would shadow the module pydantic the project imports"),
        ("dagster", "would shadow the module dagster the project imports"),
        ("requests", "would shadow the module requests the project imports"),
        ("json", "would shadow the standard-library module json"),
        ("Logging", "'Logging' (as 'logging') would shadow the standard-library module"),
        ("class", "is a Python keyword"),
        ("match", "is a Python keyword"),
    ],
)
def test_names_that_cannot_run_are_refused_with_the_right_reason(
    floe: FloeRunner, tmp_path: Path, raw: str, reason: str
) -> None:
    result = floe("init", tmp_path / "dest", "--name", raw)
    assert result.exit_code == 1, result.stderr
    assert reason in result.stderr, result.stderr
    assert not (tmp_path / "dest").exists()


def test_a_normalized_name_is_said(floe: FloeRunner, tmp_path: Path) -> None:
    assert project_names("café") == ProjectNames("cafe", "cafe", given="café")
    assert project_names("jaffle_shop") == ProjectNames("jaffle-shop", "jaffle_shop")
    result = floe("init", tmp_path / "café")
    assert result.exit_code == 0, result.stderr
    assert "project name 'café' normalized to 'cafe' (package 'cafe')" in result.stdout
    assert (tmp_path / "café" / "src" / "cafe" / "definitions.py").is_file()


@pytest.mark.parametrize("special", ["fifo", "device"], indirect=True)
def test_project_files_floe_reads_are_bounded_too(
    special: tuple[Path, str], tmp_path: Path
) -> None:
    """``pyproject.toml`` (how ``floe run`` finds the project) is read with the contract's bound;
    a special file where ``init`` would adopt a ``dbt_project.yml`` is never read."""
    path, words = special
    root = tmp_path / "run"
    root.mkdir()
    (root / "pyproject.toml").symlink_to(path)
    done = floe_process("run", "--project-dir", str(root), timeout=60)
    assert done.returncode == 2, done.stderr
    assert_worded(done.stderr, str(root / "pyproject.toml"), words)

    dest = tmp_path / "adopt"
    (dest / "dbt").mkdir(parents=True)
    (dest / "dbt" / "dbt_project.yml").symlink_to(path)
    done = floe_process("init", str(dest), timeout=60)  # not read: refused as in the way
    assert done.returncode == 1, done.stderr
    assert_worded(done.stderr, "dbt/dbt_project.yml: exists with other content")
    assert sorted(p.name for p in dest.iterdir()) == ["dbt"]
