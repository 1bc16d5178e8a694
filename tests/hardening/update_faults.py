"""A real ``floe update`` with every kind of change, frozen before its apply, for fault tests.

:func:`build_scenario` renders a project with floe's template at v0.1.0, edits it as a user
would (kept edits and one conflicting edit), commits, and computes the update to a v0.2.0
release that changes, creates (in a new folder) and deletes files, with ``floe update --diff``:
the plan of file operations and unmerged index entries that :func:`apply_journaled` applies.
The project before and a copy with the update applied give the two states that a failure or a
kill may leave (after recovery).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from floe_scaffold.project import TemplateSource, init_project, update_project
from floe_scaffold.project._journal import FileOp, apply_journaled
from floe_scaffold.project._update import _git_bytes
from tests.project.template_repo import (
    TemplateRepo,
    git,
    replace_in,
    set_release_version,
    tree,
)

#: The user's edits that must survive in both allowed states (file → text it holds).
USER_EDITS = {
    "src/demo/definitions.py": "import dagster as dg  # ours\n",
    "dbt/models/marts/revenue.sql": "sum(amount)",
}


def _release_v2(template: Path) -> None:
    set_release_version(template, "0.2.0")
    replace_in(template / "README.md.jinja", "## Lineage\n", "## Lineage and provenance\n")
    (template / ".pre-commit-config.yaml").write_text("repos: []\n", encoding="utf-8")
    (template / "ci").mkdir()
    (template / "ci" / "checks" / "lint.yaml").parent.mkdir()
    (template / "ci" / "checks" / "lint.yaml").write_text("lint: true\n", encoding="utf-8")
    (template / "Dockerfile.jinja").unlink()
    defs = next((template / "src").glob("*/defs/dbt_project/defs.yaml.jinja"))
    defs.write_text(defs.read_text(encoding="utf-8") + "# v0.2.0\n", encoding="utf-8")


@dataclass(frozen=True)
class State:
    """What a user sees of a work tree: its files, git's index, and ``git status``."""

    files: dict[str, bytes]
    index: str
    status: str


def state(root: Path) -> State:
    """The state of the work tree at ``root`` (stray files and folders included)."""
    listing = {
        path.relative_to(root).as_posix() + ("/" if path.is_dir() else ""): (
            path.read_bytes() if path.is_file() else b""
        )
        for path in sorted(root.rglob("*"))
        if path.relative_to(root).parts[0] != ".git"
    }
    return State(
        listing,
        git(root, "ls-files", "-s"),
        git(root, "status", "--porcelain", "--untracked-files=all"),
    )


@dataclass(frozen=True)
class Scenario:
    """A committed project (``pristine``), its pending update, and the two allowed states."""

    pristine: Path
    v2: TemplateSource
    ops: tuple[FileOp, ...]
    index_info: str
    before: State
    after: State

    def copy(self, dest: Path) -> Path:
        """A fresh copy of the committed project (its repository included) at ``dest``."""
        shutil.copytree(self.pristine, dest, symlinks=True)
        git(dest, "update-index", "-q", "--refresh")
        return dest

    def apply(self, top: Path) -> None:
        """Apply the update to the copy at ``top`` (what ``floe update`` does last)."""
        apply_journaled(top, git_dir(top), self.ops, self.index_info, _git_bytes)

    def save_plan(self, path: Path) -> Path:
        """The plan as JSON, for a child process (see ``tests/hardening/apply_driver.py``)."""
        ops = [
            {
                "path": op.path,
                "mode": op.mode,
                "content": None if op.content is None else base64.b64encode(op.content).decode(),
            }
            for op in self.ops
        ]
        path.write_text(json.dumps({"ops": ops, "index_info": self.index_info}), "utf-8")
        return path

    def allowed(self, root: Path) -> str:
        """``before`` or ``after``: which allowed state ``root`` is in (an assertion fails else)."""
        now = state(root)
        for label, expected in (("before", self.before), ("after", self.after)):
            if now == expected:
                return label
        for label, expected in (("before", self.before), ("after", self.after)):
            differ = sorted(
                name
                for name in {*now.files, *expected.files}
                if now.files.get(name) != expected.files.get(name)
            )
            print(f"vs {label}: files differ {differ}; status {now.status!r}")
        raise AssertionError(f"{root} is in neither allowed state")


def git_dir(top: Path) -> Path:
    """The git directory of the work tree at ``top``."""
    return Path(git(top, "rev-parse", "--absolute-git-dir").strip())


def build_scenario(base: Path) -> Scenario:
    """Make the project, its edits and its pending update under ``base``."""
    repo = TemplateRepo(base / "template" / "floe-scaffold")
    v1 = repo.source("v0.1.0")
    v2 = repo.release("v0.2.0", _release_v2)
    project = base / "pristine" / "demo"
    result = init_project(project, template=v1)
    assert result.git_initialized
    replace_in(
        project / "src/demo/definitions.py",
        "import dagster as dg\n",
        USER_EDITS["src/demo/definitions.py"],
    )
    (project / "dbt/models/marts/revenue.sql").write_text(
        "select sum(amount) as revenue from {{ ref('orders') }}\n", encoding="utf-8"
    )
    replace_in(project / "README.md", "## Lineage\n", "## Lineage (ours)\n")  # a conflict
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "our edits")
    # The real `floe update`, on a copy: the "after" state and the plan it applied.
    after_copy = base / "after" / "demo"
    shutil.copytree(project, after_copy, symlinks=True)
    plan = update_project(after_copy, template=v2)
    kinds = {op.content is None for op in plan.ops}
    assert kinds == {True, False} and plan.index_info, "the plan must write, delete, conflict"
    for line in plan.index_info.splitlines():
        mode, sha = line.split()[:2]
        if mode != "0":  # the conflict's blobs, into the pristine project's object store
            blob = _git_bytes(after_copy, "cat-file", "blob", sha)
            _git_bytes(project, "hash-object", "-w", "--stdin", stdin=blob)
    before = state(project)
    after = state(after_copy)
    assert "UU README.md" in after.status.splitlines()
    for name, text in USER_EDITS.items():
        assert text in tree(after_copy)[name].decode()
    return Scenario(project, v2, plan.ops, plan.index_info, before, after)


def run_driver(plan: Path, top: Path, *args: str, **options: object) -> subprocess.Popen[str]:
    """Start ``apply_driver`` on ``top`` in a child process (stdout piped)."""
    root = Path(__file__).resolve().parents[2]
    child: subprocess.Popen[str] = subprocess.Popen(
        [
            str(Path(sys.executable)),
            "-m",
            "tests.hardening.apply_driver",
            str(plan),
            str(top),
            *args,
        ],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **options,  # type: ignore[call-overload]
    )
    return child
