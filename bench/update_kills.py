"""The slow variant of the update kill tests: hundreds of SIGKILLs at random points of the apply.

Usage (from the repository root): ``python -m bench.update_kills [--kills 200] [--seed N]``.

The update is the real one of ``tests/hardening/update_faults.py`` (changes, creations in a new
folder, a deletion, a conflict, user edits). Each trial copies the committed project, starts a
child process that applies the update, SIGKILLs it (half the trials just before a random file
operation, half at a random instant of the apply), runs ``floe update --recover``, and checks
that the project is exactly as it was or exactly the complete update, with the user's edits, no
journal and no temporary file left. Prints the count of trials and of each final state; exits 1
at the first trial that ends in neither state.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from floe_scaffold._cli import main as floe
from floe_scaffold.project._journal import JOURNAL_DIR
from tests.hardening.update_faults import USER_EDITS, Scenario, build_scenario, git_dir, run_driver


def _trial(scenario: Scenario, top: Path, plan: Path, how: str, value: float) -> str:
    if how == "op":
        run_driver(plan, top, "kill-at", str(int(value))).communicate(timeout=120)
    else:
        child = run_driver(plan, top, "go")
        assert child.stdout is not None
        child.stdout.readline()
        time.sleep(value)
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=120)
    assert floe(["update", "--recover", str(top)]) == 0
    label = scenario.allowed(top)
    assert not (git_dir(top) / JOURNAL_DIR).exists()
    assert not [p for p in top.rglob("*.floe-update") if ".git" not in p.parts]
    for name, text in USER_EDITS.items():
        assert text in (top / name).read_text(encoding="utf-8")
    return label


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="bench-update-kills-") as scratch:
        base = Path(scratch)
        scenario = build_scenario(base / "scenario")
        plan = scenario.save_plan(base / "plan.json")
        top = scenario.copy(base / "count" / "demo")
        out, _ = run_driver(plan, top, "count").communicate(timeout=120)
        count, seconds = int(out.split()[0]), float(out.split()[1])
        print(f"apply: {count} file operations in {seconds * 1000:.1f} ms; seed {args.seed}")
        outcomes: Counter[str] = Counter()
        started = time.monotonic()
        for number in range(args.kills):
            how = "op" if number % 2 == 0 else "time"
            value = rng.randint(1, count) if how == "op" else rng.uniform(0, seconds * 1.3)
            top = scenario.copy(base / f"kill-{number}" / "demo")
            try:
                outcomes[f"{how}:{_trial(scenario, top, plan, how, value)}"] += 1
            except AssertionError as error:
                print(f"trial {number} ({how} {value}): {error}; left in {top}")
                shutil.copytree(top.parent, Path(tempfile.gettempdir()) / f"kill-{number}")
                return 1
            shutil.rmtree(top.parent)
        elapsed = time.monotonic() - started
    load = " / ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"{sum(outcomes.values())} kills, every one recovered to an allowed state: "
        f"{dict(sorted(outcomes.items()))}; {elapsed:.0f} s; load average {load}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
