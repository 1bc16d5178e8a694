"""The project's Dagster definitions: everything under ``defs/`` (see defs/dbt_project/defs.yaml).

Add your own assets, schedules and sensors as modules or components under ``defs/``.
"""

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
