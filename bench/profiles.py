"""Profile generation for all 7 targets: in-process, and as a whole ``floe profiles`` process.

The origin's bar was < 1 s; ours is < 50 ms in-process for all 7 targets together. The process
figure is compared with ``python -c pass`` (interpreter start-up), alternating in the same run.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from bench._timing import Figure, alternate, figure, measure, run_command, seconds, with_ratio
from floe_scaffold.contract import CompiledArtifacts
from floe_scaffold.profiles import WAREHOUSES, Environment, build_profile, render_profiles_yaml
from tests.helpers import ROOT, contract_for


def _all_targets() -> None:
    for target in WAREHOUSES:
        artifacts = CompiledArtifacts.model_validate(contract_for(target))
        profile = build_profile([Environment("dev", artifacts)])
        render_profiles_yaml(profile, regenerate="floe profiles x.json", version="bench")


def run(*, quick: bool) -> list[Figure]:
    """Measure and return the figures of this benchmark."""
    figures = [measure("profiles: 7 targets in-process", _all_targets, runs=20 if quick else 100)]
    floe = str(Path(sys.executable).parent / "floe")
    example = str(ROOT / "examples" / "snowflake.json")
    runs = 5 if quick else 10
    with tempfile.TemporaryDirectory() as out:
        samples = alternate(
            {
                "python -c pass": lambda: run_command([sys.executable, "-c", "pass"]),
                "floe profiles (whole process)": lambda: run_command(
                    [floe, "profiles", example, "--out", out]
                ),
            },
            runs=runs,
        )
    python, process = (figure(name, seconds(values)) for name, values in samples.items())
    return [*figures, python, with_ratio(process, python)]
