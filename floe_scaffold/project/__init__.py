"""Generating and running a project: ``floe init``, ``floe run``, ``floe dev``."""

from floe_scaffold.project._dev import dev_command, dev_environment
from floe_scaffold.project._init import ARTIFACTS_IN_PROJECT, InitResult, init_project
from floe_scaffold.project._locate import ProjectLayout, locate_project
from floe_scaffold.project._names import ProjectNames, project_names
from floe_scaffold.project._run import AssetOutcome, RunSummary, run_project

__all__ = [
    "ARTIFACTS_IN_PROJECT",
    "AssetOutcome",
    "InitResult",
    "ProjectLayout",
    "ProjectNames",
    "RunSummary",
    "dev_command",
    "dev_environment",
    "init_project",
    "locate_project",
    "project_names",
    "run_project",
]
