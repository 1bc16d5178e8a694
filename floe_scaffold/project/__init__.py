"""Generating, running and updating a project: ``floe init``, ``run``, ``dev``, ``update``."""

from floe_scaffold.project._conflicts import UnresolvedConflictsError, refuse_conflicts
from floe_scaffold.project._dev import dev_command, dev_environment, serve_dev
from floe_scaffold.project._init import ARTIFACTS_IN_PROJECT, InitResult, init_project
from floe_scaffold.project._instance import instance_home
from floe_scaffold.project._locate import ProjectLayout, locate_project
from floe_scaffold.project._names import ProjectNames, project_names
from floe_scaffold.project._run import AssetOutcome, RunSummary, run_project
from floe_scaffold.project._source import TEMPLATE_URL, TemplateSource, installed_template
from floe_scaffold.project._update import FileChange, UpdateResult, update_project

__all__ = [
    "ARTIFACTS_IN_PROJECT",
    "TEMPLATE_URL",
    "AssetOutcome",
    "FileChange",
    "InitResult",
    "ProjectLayout",
    "ProjectNames",
    "RunSummary",
    "TemplateSource",
    "UnresolvedConflictsError",
    "UpdateResult",
    "dev_command",
    "dev_environment",
    "init_project",
    "installed_template",
    "instance_home",
    "locate_project",
    "project_names",
    "refuse_conflicts",
    "run_project",
    "serve_dev",
    "update_project",
]
