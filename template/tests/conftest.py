"""pytest's first step in this project: while a `floe update` has left conflicts unresolved, stop
at once and name the files (dbt and Dagster would fail on them, with errors that do not say why).
"""

import sys
from pathlib import Path

import pytest
from floe_scaffold.project import UnresolvedConflictsError, refuse_conflicts

ROOT = Path(__file__).resolve().parents[1]


def pytest_sessionstart(session: pytest.Session) -> None:
    try:
        refuse_conflicts(ROOT)
    except UnresolvedConflictsError as error:
        sys.stderr.write("\n".join(error.lines()) + "\n")
        pytest.exit("unresolved conflicts from `floe update`, listed above", error.exit_code)
