"""``floe run`` with the run's recording replaced, as a child script for the benchmarks.

``python SCRIPT MODE ARGS...`` runs ``floe ARGS...`` as the console script does, except that
the run is not copied into ``.dagster_home`` (``memory``: the in-memory instance alone), or is
executed on the project's SQLite instance directly (``direct``: every event written, committed
and closed on the run's own thread, what ``DAGSTER_HOME`` gave before the recorder).
"""

from __future__ import annotations

__all__ = ["FLOE_RUN_VARIANT"]

FLOE_RUN_VARIANT = """\
import sys
from pathlib import Path

import dagster as dg

from floe_scaffold._cli import main
from floe_scaffold._exit import exit_now
from floe_scaffold.project import _run


class NoRecorder:
    def __init__(self, *args):
        pass

    def __call__(self, entry):
        pass

    def close(self):
        return None


_run.RunRecorder = NoRecorder
mode, *arguments = sys.argv[1:]
if mode == "direct":
    home = str(_run.instance_home(Path.cwd()))
    _run.memory_instance = lambda: dg.DagsterInstance.from_config(home)
exit_now(main(arguments))
"""
