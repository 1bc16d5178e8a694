"""The mutation check: behaviours the README promises, each broken on purpose, must fail a test.

    python -m tests.mutations            # every mutant; exit 0 if each was caught, 1 if not
    python -m tests.mutations NAME...    # some of them (names as listed by --list)

A test that still passes when the behaviour it is named after is gone proves nothing (issue 31
found three). For each :data:`MUTANTS` entry, in a scratch copy of this checkout (working tree
and ``.git``; ``.venv`` stays where it is and runs the copy's code through ``PYTHONPATH``):

1. its tests run on the unchanged copy and must pass (so a failure below is the mutant's doing);
2. the one edit is applied (the text must be in the file exactly once, or the mutant is stale
   and the check fails, saying so);
3. the same tests run again and must fail.

``scripts/test`` runs it after the suite, so CI runs it. A mutant that survives names the claim
that is no longer guarded.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutant:
    """One behaviour broken on purpose, and the tests that must notice."""

    name: str
    claim: str  # what the README promises
    path: str  # the file edited, relative to the checkout
    old: str  # text that must be in the file exactly once
    new: str  # what replaces it
    tests: tuple[str, ...]  # pytest node ids


MUTANTS = (
    Mutant(
        name="freshness-per-source",
        claim="source freshness asks the warehouse in one UNION ALL round (per 200 sources)",
        path="floe_scaffold/components/_freshness.py",
        old="_PER_QUERY = 200\n",
        new="_PER_QUERY = 1\n",
        tests=(
            "tests/project/test_source_freshness.py"
            "::test_freshness_is_asked_of_the_warehouse_in_one_round",
        ),
    ),
    Mutant(
        name="spec-cache-key",
        claim="the spec cache's key covers the project path and the four package versions",
        path="floe_scaffold/components/_assets.py",
        old=(
            '        "project_dir": str(project.project_dir),  # paths a translator may put in '
            'metadata\n        "versions": [\n            _version(name) for name in '
            '("floe-scaffold", "dagster", "dagster-dbt", "dbt-core")\n        ],\n'
        ),
        new="",
        tests=(
            "tests/project/test_load_speed.py"
            "::test_a_moved_project_or_another_package_version_is_another_key",
        ),
    ),
    Mutant(
        name="recover-on-run-and-dev",
        claim="the next floe run or floe dev rolls a killed floe update back first",
        path="floe_scaffold/_cli.py",
        old=(
            '    """Roll back a ``floe update`` that was killed in this project, before anything '
            'else."""\n'
        ),
        new=(
            '    """Roll back a ``floe update`` that was killed in this project, before anything '
            'else."""\n    return\n'
        ),
        tests=(
            "tests/hardening/test_update_faults.py"
            "::test_floe_run_and_dev_roll_a_killed_update_back_before_anything_else",
        ),
    ),
    Mutant(
        name="conflicts-refused",
        claim="floe run, floe dev and the project's pytest refuse unresolved update conflicts",
        path="floe_scaffold/project/_conflicts.py",
        old="    if found.unmerged or found.marked:\n",
        new="    if False:\n",
        tests=(
            "tests/project/test_update_day_two.py"
            "::test_an_update_with_conflicts_stages_the_rest_and_says_how_to_finish",
        ),
    ),
    Mutant(
        name="stale-manifest",
        claim="a manifest older than the dbt project's files is never used",
        path="floe_scaffold/components/_manifest_stamp.py",
        old=(
            "def staleness(project_dir: Path, manifest: Path, settings: Mapping[str, str]) "
            "-> str | None:\n"
        ),
        new=(
            "def staleness(project_dir: Path, manifest: Path, settings: Mapping[str, str]) "
            "-> str | None:\n    return None\n"
        ),
        tests=(
            "tests/project/test_stale_manifest.py"
            "::test_the_projects_own_pytest_passes_after_an_update_added_a_model",
        ),
    ),
)

_NOT_COPIED = shutil.ignore_patterns(
    ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis", "dist"
)


class StaleMutantError(Exception):
    """A mutant's text is no longer in its file exactly once."""


def _pytest(copy: Path, tests: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
        cwd=copy,
        env={**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )


def _apply(copy: Path, mutant: Mutant) -> None:
    path = copy / mutant.path
    text = path.read_text(encoding="utf-8")
    found = text.count(mutant.old)
    if found != 1:
        raise StaleMutantError(
            f"{mutant.name}: its text is in {mutant.path} {found} times, not once; the code "
            f"changed: update the mutant in tests/mutations.py to break the same behaviour"
        )
    path.write_text(text.replace(mutant.old, mutant.new), encoding="utf-8")


def _tail(done: subprocess.CompletedProcess[str]) -> str:
    return "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])


def check(mutant: Mutant, scratch: Path) -> tuple[bool, str]:
    """(caught, what happened) for one mutant, in a fresh copy under ``scratch``."""
    copy = scratch / mutant.name
    shutil.copytree(ROOT, copy, ignore=_NOT_COPIED, symlinks=True)
    control = _pytest(copy, mutant.tests)
    if control.returncode != 0:
        return False, f"its tests fail without the mutant, so they prove nothing:\n{_tail(control)}"
    _apply(copy, mutant)
    mutated = _pytest(copy, mutant.tests)
    if mutated.returncode == 0:
        return False, f"SURVIVED: with it, {', '.join(mutant.tests)} still pass"
    failed = [line for line in mutated.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    return True, "caught: " + ("; ".join(failed) or f"pytest exit {mutated.returncode}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the mutants named (all by default); print one line each; 0 if all were caught."""
    parser = argparse.ArgumentParser(prog="python -m tests.mutations", description=__doc__)
    parser.add_argument("names", nargs="*", help="mutants to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = parser.parse_args(argv)
    by_name = {mutant.name: mutant for mutant in MUTANTS}
    if args.list:
        for mutant in MUTANTS:
            print(f"{mutant.name}: {mutant.claim}")
        return 0
    unknown = [name for name in args.names if name not in by_name]
    if unknown:
        parser.error(f"no mutant named {', '.join(unknown)} (see --list)")
    chosen = [by_name[name] for name in args.names] or list(MUTANTS)
    survived = 0
    with tempfile.TemporaryDirectory(prefix="floe-mutations-") as scratch:
        for mutant in chosen:
            started = time.monotonic()
            try:
                caught, said = check(mutant, Path(scratch))
            except StaleMutantError as error:
                caught, said = False, str(error)
            survived += not caught
            print(f"mutant {mutant.name} ({time.monotonic() - started:.0f} s): {said}", flush=True)
            shutil.rmtree(Path(scratch) / mutant.name, ignore_errors=True)
    print(f"mutation check: {len(chosen) - survived} of {len(chosen)} mutants caught")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
