"""Upgrades across releases (issue 29), the way copier's own suite tests them: a project generated
by an earlier floe-scaffold release, run once with that release, edited and committed as a team
would, then updated to this checkout.

* ``floe update`` keeps every edit: afterwards every tracked file equals a fresh ``floe init`` of
  this checkout (same contract) with the team's edits applied, plus the team's own files; the only
  conflicts are files both the team and the template changed. The project builds, its own
  ``pytest`` and ``dg check defs`` pass at once (no ``floe run`` first, although the manifest in
  ``dbt/target`` is the one the old release made), and a second update changes nothing.
* Plain ``copier update`` of the same project stops before writing anything and names
  ``floe update`` (the old answers lack values this template uses).

The earlier releases are recorded in ``tests/releases/releases.bundle``
(``scripts/record_releases``): floe-scaffold's package and template as of each release commit,
so a shallow clone runs this too. Each release runs its own code (``python -m floe_scaffold``
from its checkout), as an install of that release would; this checkout's code runs from a
checkout whose history holds the releases, as floe's wheel carries them in its template bundle.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from floe_scaffold.errors import EXIT_CONFLICTS
from tests.helpers import ROOT
from tests.project.conftest import BIN, quiet_env, run_in
from tests.project.template_repo import git, template_url_env
from tests.project.test_update_day_two import _status

#: The recorded releases, oldest first: the first release whose projects `floe update` can
#: update (2026-11-28, it introduced the command) and the last one before this checkout.
RELEASES = ("b2503e6", "9f5d620")
BUNDLE = ROOT / "tests" / "releases" / "releases.bundle"
#: What a release is made of (as scripts/record_releases records it).
RELEASE_PATHS = ("floe_scaffold", "copier.yml", "template", "pyproject.toml", "hatch_build.py")

PACKAGE = "shop"

# ---- what the team adds and changes --------------------------------------------------------------

TOP_CUSTOMERS = """\
select customer_id, lifetime_value
from {{ ref('customers') }}
order by lifetime_value desc
limit 10
"""

TEAM_ASSETS = """\
import dagster as dg


@dg.asset(deps=[dg.AssetKey("customers")], group_name="team")
def customer_report() -> None:
    \"\"\"Our report over floe's `customers` model.\"\"\"


@dg.sensor(target=[customer_report], minimum_interval_seconds=3600)
def report_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    return dg.SkipReason("nothing new")
"""

TEAM_TEST = f"""\
import dagster as dg

from {PACKAGE}.definitions import defs


def test_our_report_and_its_sensor_are_in_the_definitions() -> None:
    definitions = defs()
    keys = definitions.resolve_asset_graph().get_all_asset_keys()
    assert {{dg.AssetKey("customer_report"), dg.AssetKey("top_customers")}} <= keys
    assert definitions.resolve_sensor_def("report_sensor").name == "report_sensor"
"""

#: Files the team adds.
NEW_FILES = {
    "dbt/models/marts/top_customers.sql": TOP_CUSTOMERS,
    f"src/{PACKAGE}/defs/team/assets.py": TEAM_ASSETS,
    "tests/test_team.py": TEAM_TEST,
}


def _replaced(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert text.count(old) == 1, f"{old!r} is not in the file exactly once"
        return text.replace(old, new)

    return edit


def _appended(lines: str) -> Callable[[str], str]:
    return lambda text: text + lines


#: Files of the template the team changes: path -> the change, applicable to any release's file.
EDITS: dict[str, Callable[[str], str]] = {
    "dbt/models/staging/stg_orders.sql": _replaced(
        "    status\nfrom", "    status,\n    status = 'returned' as is_returned\nfrom"
    ),
    "dbt/models/marts/_marts.yml": _appended(
        "  - name: top_customers\n"
        "    description: The ten customers with the highest lifetime value.\n"
        "    columns:\n"
        "      - name: customer_id\n"
        "        data_tests: [unique, not_null]\n"
    ),
    f"src/{PACKAGE}/defs/dbt_project/defs.yaml": _appended("  cli_args: [build, --fail-fast]\n"),
    "pyproject.toml": _replaced(
        '    "dagster-dg-cli",\n]', '    "dagster-dg-cli",\n    "tzdata",\n]'
    ),
    "README.md": _appended("\n## Our team\n\nThe analytics team owns this project.\n"),
}


# ---- floe-scaffold's history --------------------------------------------------------------------


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The recorded releases, then this checkout (its working tree) as the newest commit."""
    repo = tmp_path_factory.mktemp("history") / "floe-scaffold"
    git(repo.parent, "clone", "-q", str(BUNDLE), str(repo))
    for name in RELEASE_PATHS:
        target = repo / name
        if target.is_dir():
            shutil.rmtree(target)
        target.unlink(missing_ok=True)
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(
                source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "_template")
            )
        else:
            shutil.copy2(source, target)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--no-verify", "-m", "this checkout")
    return repo


def _floe(code: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``floe`` as installed from ``code`` (a checkout of one release), run in ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "floe_scaffold", *args],
        cwd=cwd,
        env=quiet_env(PYTHONPATH=str(code)),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def _checked(done: subprocess.CompletedProcess[str], *codes: int) -> str:
    assert done.returncode in (codes or (0,)), (done.args, done.stdout[-3000:], done.stderr[-3000:])
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return done.stdout + done.stderr


def _tracked(project: Path) -> dict[str, bytes]:
    """Every file git tracks in ``project`` (what a clone of it holds)."""
    names = git(project, "ls-files", "-z").split("\0")
    return {name: (project / name).read_bytes() for name in names if name}


def _edited(fresh: dict[str, bytes]) -> dict[str, bytes]:
    """``fresh`` (a project's tracked files) with the team's edits and new files."""
    edited = dict(fresh)
    for name, edit in EDITS.items():
        edited[name] = edit(fresh[name].decode("utf-8")).encode("utf-8")
    for name, content in NEW_FILES.items():
        edited[name] = content.encode("utf-8")
    return edited


def _write(project: Path, files: dict[str, bytes]) -> None:
    for name, content in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_bytes(content)


@pytest.mark.slow
@pytest.mark.parametrize("release", RELEASES)
def test_a_project_of_an_earlier_release_updates_keeping_every_edit(
    history: Path, release: str, tmp_path: Path
) -> None:
    old_floe = tmp_path / "release"
    git(history, "worktree", "add", "-q", "--detach", str(old_floe), f"release-{release}")
    project = tmp_path / "team" / PACKAGE

    # Day one, with the earlier release: generate, run once (its manifest, its instance).
    _checked(_floe(old_floe, tmp_path, "init", str(project)))
    generated = _tracked(project)
    _checked(_floe(old_floe, project, "run"))
    assert (project / "dbt/target/manifest.json").is_file()
    # Then the team's work, committed.
    _write(project, _edited(generated))
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "our models, report and settings")
    committed, head = _tracked(project), git(project, "rev-parse", "HEAD")

    # Plain `copier update` to the newest release stops before writing and names floe update.
    done = subprocess.run(
        [str(BIN / "copier"), "update", "--defaults"],
        cwd=project,
        env=template_url_env(history, tmp_path / "cache"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "run `floe update` instead" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr
    assert _tracked(project) == committed
    assert _status(project) == ""
    assert git(project, "rev-parse", "HEAD") == head

    # What this checkout generates from the same contract, fresh.
    fresh_dest = tmp_path / "fresh" / PACKAGE
    contract = project / ".floe" / "compiled_artifacts.json"
    _checked(_floe(history, tmp_path, "init", str(fresh_dest), "--artifacts", str(contract)))
    fresh = _tracked(fresh_dest)

    # Day two: `floe update` with this checkout.
    said = _checked(_floe(history, project, "update"), 0, EXIT_CONFLICTS)
    conflicted = [
        name for name in git(project, "diff", "--name-only", "--diff-filter=U").splitlines() if name
    ]
    changed_by_template = {name for name in EDITS if generated.get(name) != fresh.get(name)}
    assert set(conflicted) <= changed_by_template, (conflicted, said)
    for name in conflicted:  # resolved as a team would: its change again, on the new file
        assert name in said
        (project / name).write_bytes(_edited(fresh)[name])
        git(project, "add", name)
    assert not [line for line in _status(project).splitlines() if line.startswith("??")]
    git(project, "commit", "-q", "-m", "floe update")

    # Every file of a fresh init, with every edit kept; the team's files; nothing else.
    updated, expected = _tracked(project), _edited(fresh)
    assert sorted(updated) == sorted(expected)
    differing = [name for name in expected if updated[name] != expected[name]]
    assert differing == [], {name: updated[name].decode()[-600:] for name in differing}

    # At once: it builds, its own tests pass, dg loads it, although dbt/target is the old one.
    wheel = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"),
            *("--no-index", "-w", str(tmp_path / "wheel"), str(project)),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert wheel.returncode == 0, wheel.stdout + wheel.stderr
    done = run_in(project, sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider", "tests")
    failed = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    assert done.returncode == 0, failed or done.stdout[-3000:] + done.stderr[-3000:]
    assert "PASSED tests/test_team.py::test_our_report_and_its_sensor_are_in_the" in done.stdout
    done = run_in(project, str(BIN / "dg"), "check", "defs")
    assert done.returncode == 0, done.stdout + done.stderr

    # A second update changes nothing.
    snapshot = _tracked(project)
    said = _checked(_floe(history, project, "update"))
    assert "up to date" in said, said
    assert _tracked(project) == snapshot
    assert _status(project) == ""
