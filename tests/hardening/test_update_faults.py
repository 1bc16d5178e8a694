"""``floe update`` is all-or-nothing under any failure or kill (issue 18, finding 1 and 7).

The update is a real one (a template release that changes, creates in a new folder and deletes
files, user edits kept, one conflict), frozen before its apply (:mod:`.update_faults`). Then:

* a failing operation (no space, permission denied, read-only file system, I/O error) at every
  file operation of the apply, in turn, through the journal's fault seam; and a second failure
  while rolling back, finished by ``floe update --recover``;
* a real read-only directory (``chattr +i`` as root, ``chmod 555`` otherwise) under a whole
  ``floe update``, and a real RLIMIT_FSIZE (the kernel refuses a write: a full disk's EFBIG);
* SIGKILL of a child process applying the update, at random file operations and at random
  instants, then the next ``floe update`` (or ``--recover``).

After each, the project is in exactly one of two states: as it was (files, index and
``git status``), or the complete update (conflicts unmerged, ``UU``), with every user edit
intact; no journal and no stray temporary file is left. ``bench/update_kills.py`` runs the kill
trials by the hundred.
"""

from __future__ import annotations

import errno
import fcntl
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from floe_scaffold import project as project_module
from floe_scaffold._cli import main
from floe_scaffold.errors import SystemFailureError, UpdateError
from floe_scaffold.project import _journal, update_project
from floe_scaffold.project._journal import JOURNAL_DIR
from tests.hardening.update_faults import (
    USER_EDITS,
    Scenario,
    build_scenario,
    git_dir,
    run_driver,
)
from tests.helpers import weakened
from tests.project.template_repo import git

ERRNOS = [errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EIO, errno.EFBIG]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return build_scenario(tmp_path_factory.mktemp("update-faults"))


@pytest.fixture(scope="module")
def measured(scenario: Scenario, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, float]:
    """How many file operations the apply makes (each a fault or kill point), in how long."""
    top = scenario.copy(tmp_path_factory.mktemp("count") / "demo")
    plan = scenario.save_plan(top.parent / "plan.json")
    done = run_driver(plan, top, "count")
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    assert scenario.allowed(top) == "after"
    count, seconds = out.split()
    return int(count), float(seconds)


@pytest.fixture(scope="module")
def operation_count(measured: tuple[int, float]) -> int:
    return measured[0]


def assert_clean(scenario: Scenario, top: Path) -> str:
    """One of the two states, user edits intact, no journal, no temporary file: which state."""
    label = scenario.allowed(top)
    assert not (git_dir(top) / JOURNAL_DIR).exists()
    assert not [path for path in top.rglob("*.floe-update") if ".git" not in path.parts]
    for name, text in USER_EDITS.items():
        assert text in (top / name).read_text(encoding="utf-8")
    return label


def _failing_at(number: int, code: int, *, and_after: bool = False) -> Callable[[str, Path], None]:
    calls = [0]

    def hook(_operation: str, path: Path) -> None:
        calls[0] += 1
        if calls[0] == number or (and_after and calls[0] > number):
            raise OSError(code, os.strerror(code), str(path))

    return hook


def test_a_failure_at_every_file_operation_leaves_the_project_as_it_was(
    scenario: Scenario,
    operation_count: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert operation_count > 20
    for number in range(1, operation_count + 1):
        top = scenario.copy(tmp_path / f"fail-{number}" / "demo")
        code = ERRNOS[number % len(ERRNOS)]
        monkeypatch.setattr(_journal, "fault_hook", _failing_at(number, code))
        with pytest.raises(SystemFailureError) as raised:
            scenario.apply(top)
        monkeypatch.setattr(_journal, "fault_hook", None)
        assert os.strerror(code) in raised.value.message
        assert "left as it was" in raised.value.message
        assert assert_clean(scenario, top) == "before", number
        shutil.rmtree(top.parent)


def test_a_failure_while_rolling_back_is_finished_by_recover(
    scenario: Scenario,
    operation_count: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rng = random.Random(18)
    second_failures = 0
    for trial, number in enumerate(rng.sample(range(operation_count // 2, operation_count), 5)):
        top = scenario.copy(tmp_path / f"twice-{trial}" / "demo")
        hook = _failing_at(number, errno.EIO, and_after=True)
        monkeypatch.setattr(_journal, "fault_hook", hook)
        with pytest.raises(SystemFailureError) as raised:
            scenario.apply(top)
        monkeypatch.setattr(_journal, "fault_hook", None)
        if "floe update --recover" in raised.value.message:
            second_failures += 1  # the apply had begun: the journal is kept
            assert (git_dir(top) / JOURNAL_DIR / "journal.json").is_file()
        code = main(["update", "--recover", str(top)])
        assert code == 0, capsys.readouterr().err
        assert assert_clean(scenario, top) == "before"
    assert second_failures >= 3, second_failures


def _kill_and_recover(scenario: Scenario, top: Path, plan: Path, how: str, value: float) -> str:
    if how == "op":
        child = run_driver(plan, top, "kill-at", str(int(value)))
        child.communicate(timeout=120)
    elif how == "committed":
        child = run_driver(plan, top, "kill-after-commit")
        child.communicate(timeout=120)
        assert child.returncode == -signal.SIGKILL, "killed after the commit point"
        assert (git_dir(top) / JOURNAL_DIR).is_dir() and not (
            git_dir(top) / JOURNAL_DIR / "journal.json"
        ).exists()
    else:
        child = run_driver(plan, top, "go")
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(value)
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=120)
    assert main(["update", "--recover", str(top)]) == 0
    return assert_clean(scenario, top)


def test_sigkill_at_random_points_of_the_apply_leaves_one_of_two_states(
    scenario: Scenario, measured: tuple[int, float], tmp_path: Path
) -> None:
    """24 kills: 16 at random file operations, 8 at random instants of the apply."""
    operation_count, seconds = measured
    plan = scenario.save_plan(tmp_path / "plan.json")
    window = seconds * 1.3
    rng = random.Random(int(os.environ.get("FLOE_KILL_SEED", "1818")))
    trials: list[tuple[str, float]] = [("op", rng.randint(1, operation_count)) for _ in range(16)]
    trials += [("time", rng.uniform(0, window)) for _ in range(8)]
    seen = []
    for number, (how, value) in enumerate(trials):
        top = scenario.copy(tmp_path / f"kill-{number}" / "demo")
        seen.append(_kill_and_recover(scenario, top, plan, how, value))
        shutil.rmtree(top.parent)
    assert "before" in seen, seen
    # a kill at the last operation, the commit point itself (the journal's unlink, not yet
    # made), leaves the project as it was; a kill right after it, the complete update
    top = scenario.copy(tmp_path / "last" / "demo")
    assert _kill_and_recover(scenario, top, plan, "op", operation_count) == "before"
    top = scenario.copy(tmp_path / "committed" / "demo")
    assert _kill_and_recover(scenario, top, plan, "committed", 0) == "after"


def test_the_next_floe_update_rolls_a_killed_one_back_first(
    scenario: Scenario, operation_count: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = scenario.save_plan(tmp_path / "plan.json")
    top = scenario.copy(tmp_path / "next" / "demo")
    run_driver(plan, top, "kill-at", str(operation_count - 6)).communicate(timeout=120)
    assert (git_dir(top) / JOURNAL_DIR / "journal.json").is_file()
    assert "M" in git(top, "status", "--porcelain")  # half applied, for now

    # any `floe update` recovers first, whatever it does next (with this checkout's template
    # it may refuse: a draft template, or a project recorded from the test's own releases)
    main(["update", "--diff", str(top)])
    assert "Traceback" not in capsys.readouterr().err
    assert assert_clean(scenario, top) == "before"


@pytest.mark.parametrize("command", ["run", "dev"])
def test_floe_run_and_dev_roll_a_killed_update_back_before_anything_else(
    scenario: Scenario,
    operation_count: int,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: str,
) -> None:
    """README: a killed update is rolled back by the next `floe run` or `floe dev` in the project.

    What the command does after the rollback is replaced by a probe that records the state the
    project is in when the run (or the UI) would start, then stops the command.
    """
    plan = scenario.save_plan(tmp_path / "plan.json")
    top = scenario.copy(tmp_path / command / "demo")
    run_driver(plan, top, "kill-at", str(operation_count - 6)).communicate(timeout=120)
    assert (git_dir(top) / JOURNAL_DIR / "journal.json").is_file()
    assert "M" in git(top, "status", "--porcelain")  # half applied, for now
    states: list[str] = []

    def starts(*_: object, **__: object) -> None:
        states.append(assert_clean(scenario, top))
        raise SystemFailureError("stopped by the test where the command would start")

    monkeypatch.setattr(project_module, "run_project", starts)
    monkeypatch.setattr(project_module, "serve_dev", starts)

    assert main([command, "--project-dir", str(top)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "note: rolled back an interrupted `floe update` in" in err, err
    assert "stopped by the test where the command would start" in err
    assert states == ["before"]


def test_recovery_never_overwrites_a_file_edited_after_the_kill(
    scenario: Scenario, operation_count: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = scenario.save_plan(tmp_path / "plan.json")
    top = scenario.copy(tmp_path / "edited" / "demo")
    run_driver(plan, top, "kill-at", str(operation_count - 3)).communicate(timeout=120)
    readme = top / "README.md"
    readme.write_text("my notes, typed after the crash\n", encoding="utf-8")

    code = main(["update", "--recover", str(top)])

    assert code == 1
    err = capsys.readouterr().err
    assert "README.md: was changed after an update was interrupted" in err
    assert readme.read_text(encoding="utf-8") == "my notes, typed after the crash\n"
    git(top, "checkout", "--", "README.md")
    assert main(["update", "--recover", str(top)]) == 0
    assert assert_clean(scenario, top) == "before"


def _make_read_only(directory: Path) -> bool:
    """Make ``directory`` refuse new entries for real; False when this machine cannot."""
    if os.geteuid() != 0:
        directory.chmod(0o555)
        return True
    done = subprocess.run(["chattr", "+i", str(directory)], capture_output=True, check=False)
    return done.returncode == 0


def _make_writable(directory: Path) -> None:
    if os.geteuid() != 0:
        directory.chmod(0o755)
    else:
        subprocess.run(["chattr", "-i", str(directory)], capture_output=True, check=False)


def test_a_read_only_directory_fails_a_whole_floe_update_cleanly(
    scenario: Scenario,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """Finding 1 (`.floe/profiles/` not writable): a folder the update writes into last."""
    top = scenario.copy(tmp_path / "ro" / "demo")
    profiles = top / "src" / "demo" / "defs" / "dbt_project"
    real = _make_read_only(profiles)
    if not real:  # root without chattr (an overlay file system): the seam refuses the same way
        weakened(request.node, "no `chattr +i` here: the journal's fault seam stands in for it")
        monkeypatch.setattr(
            _journal,
            "fault_hook",
            lambda _op, path: _refuse_in(profiles, path),
        )
    try:
        with pytest.raises(SystemFailureError) as raised:
            update_project(top, template=scenario.v2)
    finally:
        _make_writable(profiles)
        monkeypatch.setattr(_journal, "fault_hook", None)
    assert str(profiles) in raised.value.message
    assert "left as it was" in raised.value.message
    assert assert_clean(scenario, top) == "before"
    update_project(top, template=scenario.v2)  # and a retry works
    assert assert_clean(scenario, top) == "after"


def _refuse_in(directory: Path, path: Path) -> None:
    if path.parent == directory:
        raise OSError(errno.EPERM, os.strerror(errno.EPERM), str(path))


def test_a_write_the_kernel_refuses_for_size_leaves_the_project_as_it_was(
    scenario: Scenario, tmp_path: Path
) -> None:
    """RLIMIT_FSIZE: every write past the limit fails with EFBIG, as on a full disk."""
    plan = scenario.save_plan(tmp_path / "plan.json")
    top = scenario.copy(tmp_path / "fsize" / "demo")
    largest = max(len(op.content or b"") for op in scenario.ops)

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (largest - 1, largest - 1))

    child = run_driver(plan, top, "plain", preexec_fn=limit)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 2, err
    assert "File too large" in err and "left as it was" in err
    assert "Traceback" not in err
    assert assert_clean(scenario, top) == "before"


def test_a_killed_update_leaves_no_scratch_folder_behind(
    scenario: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 7: SIGKILLed updates left `floe-update-*` in the temp folder forever."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    top = scenario.copy(tmp_path / "scratch" / "demo")
    env = {**os.environ, "TMPDIR": str(scratch)}
    child = subprocess.Popen(
        [str(Path(sys.executable)), "-m", "floe_scaffold", "update", str(top)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not list(scratch.glob("floe-*")) and time.monotonic() < deadline:
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)
    assert list(scratch.glob("floe-*")), "the update never made a scratch folder"

    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    update_project(top, template=scenario.v2, diff=True)  # the next update sweeps first
    assert not list(scratch.glob("floe-*"))


def test_the_dirty_tree_refusal_names_every_path_whole(scenario: Scenario, tmp_path: Path) -> None:
    """Finding 7: the first path lost its first character (`EADME.md`)."""
    top = scenario.copy(tmp_path / "dirty" / "demo")
    (top / "README.md").write_text("edited\n", encoding="utf-8")
    (top / "new notes.md").write_text("untracked\n", encoding="utf-8")
    git(top, "mv", "pyproject.toml", "renamed.toml")
    with pytest.raises(UpdateError) as raised:
        update_project(top)
    message = str(raised.value.issues[0])
    assert "(README.md, new notes.md, renamed.toml)" in message or all(
        name in message for name in ("README.md", "new notes.md", "renamed.toml")
    ), message
    assert "EADME" not in message.replace("README", "")


def test_an_update_running_is_never_rolled_back_under_it(
    scenario: Scenario, operation_count: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second floe (update, or --recover) waits for the update lock, so it cannot take a
    running update's journal for an interrupted one."""
    plan = scenario.save_plan(tmp_path / "plan.json")
    top = scenario.copy(tmp_path / "busy" / "demo")
    run_driver(plan, top, "kill-at", str(operation_count - 6)).communicate(timeout=120)
    holder = os.open(git_dir(top) / "floe-update.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)  # what a running `floe update` holds
    try:
        assert main(["update", "--recover", str(top)]) == 2
        assert main(["update", str(top)]) == 2
    finally:
        os.close(holder)
    assert "another `floe update` is applying an update" in capsys.readouterr().err
    assert (git_dir(top) / JOURNAL_DIR / "journal.json").is_file()  # untouched
    assert main(["update", "--recover", str(top)]) == 0
    assert assert_clean(scenario, top) == "before"
