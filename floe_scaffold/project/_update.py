"""``floe update``: re-render a generated project with this floe-scaffold's template and contract.

The update is copier's three-way update (old render → the user's project → new render), done in
a temporary clone of the project's repository so that the project itself changes only when the
whole update has been computed, and then in one step (``git apply`` is all-or-nothing):

1. checks: a floe project (its ``.copier-answers.yml``), a git work tree, nothing uncommitted;
2. the render context is recomputed from the contract (``--artifacts`` or the project's copy),
   keeping what must not move (names, where the dbt project is, whether floe's starter dbt
   project was rendered);
3. ``copier update`` runs in the clone, pinned to the installed template's commit;
4. generated-only files (``profiles.yml``, ``.floe/compiled_artifacts.json``) are rewritten from
   the context whatever happened to them;
5. the clone's change is applied to the project's work tree through a journal under ``.git/``
   (:mod:`._journal`): all of it or, after any failure or kill, none of it; in the same
   all-or-nothing step the change is staged in the index, and copier's conflicts are re-created
   as unmerged index entries (``git status`` shows ``UU``, ``git commit`` refuses them until
   they are resolved).

Everything the update writes is staged (a new file is never left untracked, so committing after
resolving the conflicts takes the whole update); nothing is committed for the user. An update
that was killed is rolled back by the next ``floe update`` (or ``floe update --recover``,
``floe run``, ``floe dev``) in the project before it does anything else.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from floe_scaffold._bounded import MAX_PROJECT_FILE, read_bounded
from floe_scaffold.contract import parse_artifacts
from floe_scaffold.errors import InputFileError, Issue, SystemFailureError, UpdateError
from floe_scaffold.project._context import (
    RenderContext,
    build_context,
    dbt_dir_of,
    existing_dbt_project,
    profile_name_of,
)
from floe_scaffold.project._copier import copier_errors
from floe_scaffold.project._git import git_bytes
from floe_scaffold.project._init import ARTIFACTS_IN_PROJECT, read_artifacts
from floe_scaffold.project._journal import FileOp, apply_journaled, locked, pending, recover
from floe_scaffold.project._names import ProjectNames
from floe_scaffold.project._scratch import scratch_dir
from floe_scaffold.project._source import (
    TEMPLATE_URL,
    TemplateSource,
    copier_environment,
    installed_template,
)

__all__ = [
    "ANSWERS_FILE",
    "FileChange",
    "UpdateResult",
    "generated_files",
    "recover_interrupted_update",
    "update_project",
]

ANSWERS_FILE = ".copier-answers.yml"


@dataclass(frozen=True)
class FileChange:
    """One file the update creates, modifies or deletes (path relative to the project root)."""

    status: str  # "created" | "updated" | "deleted"
    path: str


@dataclass(frozen=True)
class UpdateResult:
    """What ``floe update`` did (or, with ``diff``, would do)."""

    root: Path
    from_commit: str
    to_commit: str
    changes: tuple[FileChange, ...]
    conflicts: tuple[str, ...]
    patch: str
    applied: bool
    artifacts_source: str
    #: the file operations and unmerged index entries that apply it (with ``diff``: would)
    ops: tuple[FileOp, ...] = ()
    index_info: str = ""


def generated_files(context: RenderContext) -> dict[str, str]:
    """Files floe regenerates wholesale on every update (never hand-edited), with their text."""
    return {
        f"{context.profiles_dir}/profiles.yml": context.profiles_yml,
        ARTIFACTS_IN_PROJECT: context.artifacts_json,
    }


def update_project(
    dest: Path,
    *,
    artifacts: Path | None = None,
    diff: bool = False,
    template: TemplateSource | None = None,
) -> UpdateResult:
    """Bring ``dest``'s project up to the installed template and the current contract.

    Raises:
        UpdateError: not a floe project, not in git, uncommitted changes, a downgrade, or a
            contract change that an update cannot make (exit 1).
        ContractError, ProfileError: the contract is invalid (exit 1).
        InputFileError, SystemFailureError: a file is unreadable, or git failed, or another
            update is running in the repository (exit 2).

    """
    repository = _repository(dest)
    if repository is None:
        return _update(dest, artifacts, diff, template)
    with locked(*repository):
        recover(*repository, _git_bytes)
        return _update(dest, artifacts, diff, template)


def _update(
    dest: Path, artifacts: Path | None, diff: bool, template: TemplateSource | None
) -> UpdateResult:
    root = _project_root(dest.resolve())
    answers = _read_answers(root)
    recorded = _recorded_context(root, answers)
    top = _work_tree_top(root)
    _refuse_dirty(top, root)
    text, source_label = read_artifacts(artifacts or root / ARTIFACTS_IN_PROJECT)
    contract = parse_artifacts(text, source=source_label)
    if dbt_dir_of(contract) != recorded.dbt_dir:
        raise UpdateError(
            [
                Issue(
                    "dbt_project_path",
                    f"the contract moves the dbt project from {recorded.dbt_dir!r} to "
                    f"{dbt_dir_of(contract)!r}; an update does not move it: `git mv` the "
                    "directory, commit, then update (or keep the old path in the contract)",
                )
            ],
            source=source_label,
        )
    context = build_context(
        contract,
        text,
        ProjectNames(recorded.project_name, recorded.package),
        profile_name=profile_name_of(existing_dbt_project(root, recorded.dbt_dir)),
        starter_dbt=recorded.starter_dbt,
    )
    with contextlib.ExitStack() as stack:
        source = template or stack.enter_context(installed_template())
        if source.draft:
            raise UpdateError(
                [
                    Issue(
                        "",
                        "the floe-scaffold checkout this command runs from has uncommitted "
                        "template changes; commit them (an update must record a template "
                        "commit that exists) and run floe update again",
                    )
                ],
                source=root,
            )
        scratch = stack.enter_context(scratch_dir("floe-update-"))
        clone = scratch / "repo"
        _git(top, "clone", "-q", "--shared", str(top), str(clone))
        sub = clone / root.relative_to(top)
        _copier_update(sub, context, source)
        for name, content in generated_files(context).items():
            _rewrite(clone, sub / name, content)
        unmerged = _git(clone, "ls-files", "-u", "-z", "--", str(sub)).split("\0")
        rejects = _git(clone, "ls-files", "-o", "--exclude-standard", "-z", "--", str(sub))
        _git(clone, "add", "-A", "--", str(sub))
        patch = _git(clone, "diff", "--cached", "--binary", "--full-index", "HEAD", "--", str(sub))
        changes = _changes(clone, sub)
        conflicts = sorted(
            {_from_top(entry.split("\t", 1)[1], top, root) for entry in unmerged if entry}
            | {_from_top(name, top, root) for name in rejects.split("\0") if name.endswith(".rej")}
        )
        new_commit = str(_read_answers(sub).get("_commit") or source.ref)
        ops, index_info = _plan(top, clone, [e for e in unmerged if e], write_blobs=not diff)
        if patch and not diff:
            git_dir = Path(_git(top, "rev-parse", "--absolute-git-dir").strip())
            apply_journaled(top, git_dir, ops, index_info, _git_bytes)
    return UpdateResult(
        root=root,
        from_commit=str(answers.get("_commit")),
        to_commit=new_commit,
        changes=changes,
        conflicts=tuple(conflicts),
        patch=patch,
        applied=bool(patch) and not diff,
        artifacts_source=source_label,
        ops=tuple(ops),
        index_info=index_info,
    )


# ---- checks -------------------------------------------------------------------------------------


def recover_interrupted_update(dest: Path) -> bool:
    """Roll back an update of the repository holding ``dest`` that was killed; whether one was.

    Raises:
        UpdateError: a file the update touched was edited since (it is named; nothing is
            overwritten).
        SystemFailureError: a file cannot be restored; the journal is kept for another try.

    """
    repository = _repository(dest)
    if repository is None or not pending(repository[1]):
        return False
    with locked(*repository):
        return recover(*repository, _git_bytes)


def _repository(dest: Path) -> tuple[Path, Path] | None:
    """The work tree's top and the git directory of the repository holding ``dest``, if any."""
    start = dest.absolute()
    while not start.is_dir() and start != start.parent:
        start = start.parent
    try:
        top = Path(_git(start, "rev-parse", "--show-toplevel").strip())
        git_dir = Path(_git(start, "rev-parse", "--absolute-git-dir").strip())
    except SystemFailureError:
        return None
    return top, git_dir


def _project_root(start: Path) -> Path:
    for candidate in (start, *start.parents):
        if (candidate / ANSWERS_FILE).is_file():
            return candidate
    raise UpdateError(
        [
            Issue(
                "",
                f"{start} is not inside a project generated by floe-scaffold (no {ANSWERS_FILE} "
                "here or above); run `floe init` first, or pass the project's directory",
            )
        ]
    )


def _read_answers(root: Path) -> dict[str, Any]:
    path = root / ANSWERS_FILE
    try:
        loaded = yaml.safe_load(read_bounded(path, MAX_PROJECT_FILE).decode("utf-8"))
    except OSError as error:
        raise InputFileError(f"{path}: cannot read it ({error.strerror})", source=path) from None
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as error:
        raise UpdateError(
            [Issue(ANSWERS_FILE, f"is not valid YAML ({error}); restore it from git history")],
            source=root,
        ) from None
    if not isinstance(loaded, dict):
        raise UpdateError(
            [Issue(ANSWERS_FILE, "is not a mapping; restore it from git history")], source=root
        )
    return loaded


class _Recorded(BaseModel):
    """What an update keeps from the recorded render context.

    The one model that ignores unknown keys, on purpose: the other fields of the context come
    and go between floe-scaffold releases, and an update must read what an older one recorded.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    project_name: str
    package: str
    dbt_dir: str
    starter_dbt: bool


def _recorded_context(root: Path, answers: dict[str, Any]) -> _Recorded:
    problems = []
    if answers.get("_src_path") != TEMPLATE_URL:
        problems.append(
            Issue(
                f"{ANSWERS_FILE}._src_path",
                f"is {answers.get('_src_path')!r}, not floe-scaffold's template {TEMPLATE_URL}: "
                "the project was not generated by a floe-scaffold that can update it; "
                "generate it again with `floe init` and move your changes over",
            )
        )
    if not answers.get("_commit"):
        problems.append(
            Issue(
                f"{ANSWERS_FILE}._commit",
                "is missing: the template version that rendered the project is unknown "
                "(projects of the very first render, 2026-11-27, recorded none); restore the "
                "file from git history if it had one, else generate the project again with "
                "`floe init` and move your changes over",
            )
        )
    try:
        recorded = _Recorded.model_validate(answers.get("floe"))
    except ValidationError as error:
        problems.extend(
            Issue(
                ".".join(str(part) for part in (ANSWERS_FILE, "floe", *item["loc"])),
                f"{item['msg']}; this file is written by floe, restore it from git history",
            )
            for item in error.errors()
        )
    if problems:
        raise UpdateError(problems, source=root)
    return recorded


def _work_tree_top(root: Path) -> Path:
    try:
        return Path(_git(root, "rev-parse", "--show-toplevel").strip()).resolve()
    except SystemFailureError:
        raise UpdateError(
            [
                Issue(
                    "",
                    "the project is not in a git repository; updates merge through git: run "
                    "`git init && git add -A && git commit -m 'Generated project'` first",
                )
            ],
            source=root,
        ) from None


def _refuse_dirty(top: Path, root: Path) -> None:
    listing = _git(top, "status", "--porcelain", "-z", "--untracked-files=all", "--", str(root))
    paths = _porcelain_paths(listing)
    if not paths:
        return
    shown = ", ".join(paths[:10]) + (f" and {len(paths) - 10} more" if len(paths) > 10 else "")
    raise UpdateError(
        [
            Issue(
                "",
                f"the working tree has uncommitted changes ({shown}); commit or stash them "
                "first, so the update's changes can be reviewed and undone on their own",
            )
        ],
        source=root,
    )


def _porcelain_paths(listing: str) -> list[str]:
    """The paths of ``git status --porcelain -z`` (a rename's source, after it, skipped)."""
    paths, fields, index = [], listing.split("\0"), 0
    while index < len(fields):
        field = fields[index]
        index += 1
        if len(field) < 4:
            continue
        paths.append(field[3:])
        if field[0] in "RC":
            index += 1
    return paths


# ---- the update in the clone ---------------------------------------------------------------------


def _copier_update(sub: Path, context: RenderContext, source: TemplateSource) -> None:
    from copier import Settings, run_update

    hint = "; install a floe-scaffold at least as new as the one that last updated this project"
    with (
        copier_environment(source),
        copier_errors(UpdateError, downgrade_hint=hint),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        run_update(
            sub,
            data={"floe": context.model_dump(mode="json")},
            vcs_ref=source.ref,
            defaults=True,
            overwrite=True,
            conflict="inline",
            quiet=True,
            unsafe=False,
            skip_answered=True,
            settings=Settings(),
        )


def _rewrite(clone: Path, path: Path, content: str) -> None:
    """Write a generated-only file and drop any conflict copier recorded for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    relative = path.relative_to(clone).as_posix()
    if _git(clone, "ls-files", "-u", "--", relative):
        _git(clone, "rm", "-q", "--cached", "--", relative)


def _changes(clone: Path, sub: Path) -> tuple[FileChange, ...]:
    listing = _git(clone, "diff", "--cached", "--name-status", "-z", "--no-renames", "HEAD", "--")
    fields = [field for field in listing.split("\0") if field]
    labels = {"A": "created", "M": "updated", "D": "deleted", "T": "updated"}
    prefix = sub.relative_to(clone).as_posix()
    changes = []
    for status, name in zip(fields[::2], fields[1::2], strict=True):
        relative = name if prefix == "." else name.removeprefix(f"{prefix}/")
        changes.append(FileChange(labels.get(status[0], "updated"), relative))
    return tuple(changes)


def _from_top(name: str, top: Path, root: Path) -> str:
    return (top / name).relative_to(root).as_posix()


# ---- applying it to the project ------------------------------------------------------------------


#: Every git call of an update goes through this name (a test makes one step fail with it).
_git_bytes = git_bytes


def _git(cwd: Path, *args: str, stdin: str | None = None) -> str:
    out = _git_bytes(cwd, *args, stdin=None if stdin is None else stdin.encode())
    return out.decode("utf-8", "surrogateescape")


def _plan(
    top: Path, clone: Path, unmerged: list[str], *, write_blobs: bool
) -> tuple[list[FileOp], str]:
    """The clone's change as file operations, and as index entries that stage it.

    Every changed file is staged as the clone has it (a new file added, a deleted one removed),
    so nothing the update writes is left untracked; each conflict becomes unmerged entries
    instead. With ``write_blobs``, the blobs those entries name are copied into the project's
    object store (unreferenced until the index names them, which changes nothing a user sees).
    """
    listing = _git(clone, "diff", "--cached", "--name-only", "-z", "--no-renames", "HEAD", "--")
    ops = []
    for name in sorted(field for field in listing.split("\0") if field):
        path = clone / name
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise SystemFailureError(f"the update would make {name} a non-file; not supported")
        if path.is_file():
            ops.append(FileOp(name, path.read_bytes(), path.stat().st_mode & 0o777))
        else:
            ops.append(FileOp(name, None))
    conflicted = {entry.split("\t", 1)[1] for entry in unmerged}
    written = {op.path for op in ops if op.content is not None} - conflicted
    staged = [
        entry
        for entry in _git(clone, "ls-files", "-s", "-z").split("\0")
        if entry and entry.split("\t", 1)[1] in written
    ]
    removed = [op.path for op in ops if op.content is None and op.path not in conflicted]
    if write_blobs:
        _copy_blobs(clone, top, {entry.split()[1] for entry in [*staged, *unmerged]})
    lines = [*staged, *(f"0 {'0' * 40}\t{path}" for path in [*removed, *sorted(conflicted)])]
    lines.extend(unmerged)
    return ops, "".join(f"{line}\n" for line in lines)


def _copy_blobs(clone: Path, top: Path, shas: set[str]) -> None:
    """Copy the blobs ``shas`` from the clone's object store into the project's (two git calls)."""
    if not shas:
        return
    pack = _git_bytes(
        clone,
        "pack-objects",
        "-q",
        "--stdout",
        stdin="".join(f"{sha}\n" for sha in sorted(shas)).encode(),
    )
    _git_bytes(top, "unpack-objects", "-q", stdin=pack)
