"""One demo project per benchmark process, made and run once, for every suite that times it.

The first ``floe run`` of a new project parses the dbt project; doing it once here (it is also a
warm-up of every import) spares each suite a run of its own that it could not time.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from bench._process import BIN, run
from floe_scaffold.project import init_project

_MADE: list[Path] = []


def parsed_demo() -> Path:
    """The shared demo project, parsed and built (made on the first call, removed at exit)."""
    if not _MADE:
        where = Path(tempfile.mkdtemp(prefix="floe-bench-demo-"))
        atexit.register(shutil.rmtree, where, ignore_errors=True)
        demo = where / "demo"
        init_project(demo, git=False)
        run([str(BIN / "floe"), "run"], demo)
        _MADE.append(demo)
    return _MADE[0]
