"""What recording ``floe run`` in the project's Dagster instance costs, three ways, alternated.

* ``floe run`` as shipped: executes on an in-memory instance while a background thread copies
  the run and its events into ``.dagster_home`` (SQLite), done before the command returns;
* the direct way: execute on the SQLite instance itself (what ``DAGSTER_HOME`` gave before), so
  every event is written, committed and closed on the run's own thread;
* not recorded at all: the in-memory instance alone (``floe run`` without ``DAGSTER_HOME``
  before this change; the UI then never saw the run).

The two variants run the same ``floe run`` code in a child process, with the recorder (and, for
the direct way, the in-memory instance) replaced; the demo project: 8 assets, 13 checks, 84 events.
5 runs each after a warm-up, ``--quick`` 2.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from bench._demo import parsed_demo
from bench._process import BIN, ENV
from bench._process import run as _run
from bench._timing import Figure, alternate, figure, seconds, with_ratio
from bench._variants import FLOE_RUN_VARIANT

SHIPPED = "floe run (recorded in .dagster_home in the background)"
DIRECT = "floe run executing on the SQLite instance (direct)"
MEMORY = "floe run in memory (not recorded)"


def run(*, quick: bool) -> list[Figure]:
    """Measure and return the figures of this benchmark."""
    runs = 2 if quick else 5
    env = {key: value for key, value in ENV.items() if key != "DAGSTER_HOME"}
    with tempfile.TemporaryDirectory(prefix="floe-bench-instance-") as scratch:
        demo = Path(scratch) / "demo"
        shutil.copytree(parsed_demo(), demo, ignore=shutil.ignore_patterns(".dagster_home"))
        script = Path(scratch) / "variant.py"
        script.write_text(FLOE_RUN_VARIANT, encoding="utf-8")

        def variant(name: str) -> None:
            _run([sys.executable, str(script), name, "run"], demo, env)

        samples = alternate(
            {
                SHIPPED: lambda: _run([str(BIN / "floe"), "run"], demo, env),
                DIRECT: lambda: variant("direct"),
                MEMORY: lambda: variant("memory"),
            },
            runs=runs,
        )
    shipped, direct, memory = (figure(name, seconds(values)) for name, values in samples.items())
    return [with_ratio(shipped, memory), with_ratio(direct, memory), memory]
