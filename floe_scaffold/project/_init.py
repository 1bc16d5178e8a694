"""``floe init``: render a complete project into a destination, all-or-nothing."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from floe_scaffold import __version__
from floe_scaffold._bounded import (
    MAX_CONTRACT_BYTES,
    MAX_PROJECT_FILE,
    NotARegularFileError,
    read_bounded,
)
from floe_scaffold.contract import parse_artifacts
from floe_scaffold.errors import InputFileError, Issue, ProjectError, SystemFailureError
from floe_scaffold.project._context import (
    RenderContext,
    build_context,
    dbt_dir_of,
    existing_dbt_project,
    profile_name_of,
)
from floe_scaffold.project._demo import demo_contract_text
from floe_scaffold.project._git import commit_initial, inside_git_work_tree
from floe_scaffold.project._names import ProjectNames, project_names
from floe_scaffold.project._render import render_to
from floe_scaffold.project._scratch import scratch_dir
from floe_scaffold.project._source import TemplateSource, installed_template
from floe_scaffold.project._write import Placement, place_files, plan_placement

__all__ = ["ARTIFACTS_IN_PROJECT", "InitResult", "init_project", "read_artifacts"]

ARTIFACTS_IN_PROJECT = ".floe/compiled_artifacts.json"


@dataclass(frozen=True)
class InitResult:
    """What ``floe init`` did."""

    dest: Path
    names: ProjectNames
    context: RenderContext
    placement: Placement
    artifacts_source: str
    git_problem: str | None
    git_initialized: bool
    template_draft: bool
    #: git had no user identity: the first commit was made as floe-scaffold.
    git_identity_borrowed: bool = False


def init_project(
    dest: Path,
    *,
    artifacts: Path | None = None,
    name: str | None = None,
    force: bool = False,
    git: bool = True,
    template: TemplateSource | None = None,
) -> InitResult:
    """Generate a Dagster + dbt project in ``dest`` from a CompiledArtifacts contract.

    Artifacts come from ``artifacts``, else ``dest/.floe/compiled_artifacts.json``, else the
    built-in DuckDB demo. Nothing in ``dest`` changes unless every check passed and every file
    was rendered; a failure while writing restores ``dest`` as it was. ``template`` overrides
    the installed template (tests render other template versions with it).

    Raises:
        ContractError, ProfileError, ProjectError: invalid input (exit 1).
        InputFileError, SystemFailureError: unreadable input or an unwritable ``dest`` (exit 2).

    """
    dest = dest.absolute()
    text, source_label = _artifacts_text(dest, artifacts)
    contract = parse_artifacts(text, source=source_label)
    names = project_names(name if name is not None else dest.name)
    if isinstance(names, Issue):
        raise ProjectError([names])
    _check_destination(dest)
    # dest and any missing parents, outermost first: removed again if anything fails
    created = [path for path in (*reversed(dest.parents), dest) if not path.exists()]
    try:
        for directory in created:
            directory.mkdir()
        with _exclusive(dest):
            return _generate(dest, text, source_label, contract, names, force, git, template)
    except BaseException as error:
        for directory in reversed(created):
            _remove_empty_tree(directory)
        if isinstance(error, OSError):
            raise SystemFailureError(
                f"cannot create {error.filename or dest}: {error.strerror or error}; nothing "
                "was changed",
                source=dest,
            ) from None
        raise


def _generate(
    dest: Path,
    text: str,
    source_label: str,
    contract: Any,
    names: ProjectNames,
    force: bool,
    git: bool,
    template: TemplateSource | None,
) -> InitResult:
    dbt_dir = dbt_dir_of(contract)
    existing = existing_dbt_project(dest, dbt_dir)
    context = build_context(
        contract,
        text,
        names,
        profile_name=profile_name_of(existing),
        starter_dbt=existing is None or _starter_recorded(dest, dbt_dir),
    )
    with contextlib.ExitStack() as stack:
        source = template or stack.enter_context(installed_template())
        scratch = stack.enter_context(scratch_dir("floe-render-"))
        files = render_to(context, scratch / "project", source)
    placement = plan_placement(files, dest)
    # Generated-only files (never edited by hand) are always rewritten, like `floe profiles`.
    generated = {".copier-answers.yml", f"{context.profiles_dir}/profiles.yml"}
    conflicts = [name for name in placement.changed if name not in generated]
    if conflicts and not force:
        raise ProjectError(
            [
                Issue(name, "exists with other content; move it away or pass --force")
                for name in conflicts
            ],
            source=dest,
        )
    place_files(files, dest, placement)
    git_problem, git_initialized, borrowed = None, False, False
    if git and not inside_git_work_tree(dest):
        had_git = (dest / ".git").exists()
        commit = commit_initial(
            dest, f"Generate {names.distribution} with floe-scaffold {__version__}"
        )
        if commit.problem is not None:
            if not had_git:  # the repository this init made: a re-run makes it again
                shutil.rmtree(dest / ".git", ignore_errors=True)
            raise SystemFailureError(
                f"the project's files are in {dest}, but git could not make its first commit "
                f"({commit.problem}); fix that, then run the same `floe init` again: it keeps "
                "the files and makes the repository and the commit",
                source=dest,
            )
        borrowed = commit.borrowed_identity
        git_initialized = True
    return InitResult(
        dest,
        names,
        context,
        placement,
        source_label,
        git_problem,
        git_initialized,
        source.draft,
        git_identity_borrowed=borrowed,
    )


@contextlib.contextmanager
def _exclusive(dest: Path) -> Iterator[None]:
    """Hold ``dest`` for this init alone (a lock on the directory, released on exit or kill)."""
    descriptor = os.open(dest, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in {errno.EWOULDBLOCK, errno.EAGAIN}:
                raise
            raise SystemFailureError(
                f"another `floe init` is writing into {dest} right now; wait for it to finish "
                "(then run this one again, if it is still needed)",
                source=dest,
            ) from None
        yield
    finally:
        os.close(descriptor)


def _starter_recorded(dest: Path, dbt_dir: str) -> bool:
    """Whether ``dest`` holds a project floe generated with its starter dbt project there.

    A re-run of ``init`` (after a failed commit, say) then keeps rendering the starter: the
    dbt project it finds is floe's own, not one the user brought.
    """
    try:
        answers = yaml.safe_load(read_bounded(dest / ".copier-answers.yml", MAX_PROJECT_FILE))
    except (OSError, yaml.YAMLError, RecursionError):
        return False
    recorded = answers.get("floe") if isinstance(answers, dict) else None
    return (
        isinstance(recorded, dict)
        and recorded.get("starter_dbt") is True
        and recorded.get("dbt_dir") == dbt_dir
    )


def _artifacts_text(dest: Path, artifacts: Path | None) -> tuple[str, str]:
    path = artifacts if artifacts is not None else dest / ARTIFACTS_IN_PROJECT
    if artifacts is None and not (path.exists() or path.is_symlink()):
        return demo_contract_text(), "the built-in DuckDB demo"
    return read_artifacts(path)


def read_artifacts(path: Path) -> tuple[str, str]:
    """The text of a CompiledArtifacts file and the label errors name it by."""
    try:
        raw = read_bounded(path, MAX_CONTRACT_BYTES)
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file; pass a CompiledArtifacts JSON file") from None
    except NotARegularFileError as error:
        raise InputFileError(
            f"{path}: {error.strerror}; pass a CompiledArtifacts JSON file", source=path
        ) from None
    except OSError as error:
        raise InputFileError(
            f"{path}: cannot read it ({error.strerror or error})", source=path
        ) from None
    try:
        return raw.decode("utf-8-sig"), str(path)
    except UnicodeDecodeError:
        # parse_artifacts words this error; hand it the bytes' best-effort text.
        parse_artifacts(raw, source=path)
        raise  # pragma: no cover - parse_artifacts always raises for non-UTF-8 input


def _check_destination(dest: Path) -> None:
    if dest.exists() and not dest.is_dir():
        raise SystemFailureError(f"{dest} exists and is not a directory; choose another place")
    existing = dest if dest.exists() else next(p for p in dest.parents if p.exists())
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SystemFailureError(
            f"{existing} is not writable; choose another destination or fix its permissions",
            source=existing,
        )


def _remove_empty_tree(directory: Path) -> None:
    for path in sorted(directory.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir():
            try:
                path.rmdir()
            except OSError:
                return
    with contextlib.suppress(OSError):
        directory.rmdir()
