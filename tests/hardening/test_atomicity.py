"""``floe init`` is all-or-nothing: a failure at any point leaves DEST exactly as it was.

Failures are simulated in the standard library calls every write goes through (``Path.replace``
puts a finished file in place, ``Path.mkdir`` makes a directory) at the first, second, middle and
last such call into the destination, for a new destination, for one holding the user's files,
and for a project generated before and re-generated with ``--force`` (whose replaced files must
come back). An interrupt (Ctrl-C) midway is rolled back the same way. Failures while rendering
(into a scratch directory) must leave DEST untouched too and be reported as a floe error.
``floe update`` has its own atomicity tests.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from floe_scaffold.errors import FloeError, SystemFailureError
from floe_scaffold.project import init_project
from tests.helpers import tree_snapshot

KINDS = ["new", "user-files", "regenerated"]
POINTS = ["first", "middle", "last"]


def listing(root: Path) -> list[str]:
    """Every path under ``root``, directories included (so a leftover empty one is seen)."""
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


Where = Callable[[Path], bool]


def into(dest: Path) -> Where:
    """Calls that write into ``dest``; not ``dest.mkdir(exist_ok=True)`` on an existing ``dest``,
    which cannot fail for want of space."""
    root = dest.absolute()
    existed = root.is_dir()
    return lambda path: (
        path.absolute().is_relative_to(root) and not (existed and path.absolute() == root)
    )


def rendering(path: Path) -> bool:
    """Calls that write into the scratch directory a project is rendered in."""
    return "floe-render-" in str(path)


def _patched(
    patch: pytest.MonkeyPatch,
    method: str,
    where: Where,
    fail_at: int | None,
    error: BaseException | None = None,
) -> list[int]:
    """Count, and fail the ``fail_at``-th of, the ``Path.<method>`` calls ``where`` selects."""
    calls = [0]
    real = getattr(Path, method)

    def wrapped(self: Path, *args: Any, **kwargs: Any) -> Any:
        if where(self):
            calls[0] += 1
            if calls[0] == fail_at and error is not None:
                raise error
        return real(self, *args, **kwargs)

    patch.setattr(Path, method, wrapped)
    return calls


def count_calls(method: str, where: Where, run: Callable[[], object]) -> int:
    with pytest.MonkeyPatch.context() as patch:
        calls = _patched(patch, method, where, None)
        run()
    return calls[0]


def prepare(kind: str, root: Path) -> tuple[Path, bool]:
    """A destination of ``kind`` under ``root``; returns it and whether init needs ``force``."""
    dest = root / "shop"
    root.mkdir(parents=True, exist_ok=True)
    if kind == "new":
        return dest, False
    if kind == "new-with-parents":
        return root / "a" / "b" / "shop", False
    dest.mkdir()
    (dest / "notes.txt").write_text("mine\n", encoding="utf-8")
    if kind == "user-files":
        (dest / "data").mkdir()
        (dest / "data" / "keep.csv").write_text("a,b\n", encoding="utf-8")
        return dest, False
    init_project(dest, git=False)
    (dest / "README.md").write_text("my own readme\n", encoding="utf-8")
    (dest / ".floe/profiles/profiles.yml").write_text("stale: true\n", encoding="utf-8")
    return dest, True


def _index(point: str, total: int) -> int:
    return {"first": 1, "second": min(2, total), "middle": max(1, total // 2), "last": total}[point]


_TOTALS: dict[tuple[str, str], int] = {}


def _total(kind: str, method: str, scratch: Path) -> int:
    """How many ``method`` calls into DEST a successful init makes (measured once per process)."""
    if (kind, method) not in _TOTALS:
        probe, force = prepare(kind, scratch)
        run = lambda: init_project(probe, force=force, git=False)  # noqa: E731
        _TOTALS[kind, method] = count_calls(method, into(probe), run)
    return _TOTALS[kind, method]


def _fail_while_writing(
    tmp_path: Path, kind: str, method: str, point: str, error: BaseException
) -> None:
    total = _total(kind, method, tmp_path / "probe")
    assert total > 0, f"init makes no {method} call into a {kind} destination"
    at = _index(point, total)
    root = tmp_path / "run"
    dest, force = prepare(kind, root)
    before, names = tree_snapshot(root), listing(root)
    with pytest.MonkeyPatch.context() as patch:
        _patched(patch, method, into(dest), at, error)
        with pytest.raises(type(error) if isinstance(error, KeyboardInterrupt) else FloeError):
            init_project(dest, force=force, git=False)
    assert tree_snapshot(root) == before, f"call {at} of {total}"
    assert listing(root) == names, f"call {at} of {total}"


WRITING_CASES = [
    pytest.param(kind, method, point)
    for kind in KINDS
    for method in ("replace", "mkdir")
    for point in POINTS
    if (kind, method) != ("regenerated", "mkdir")  # every directory exists: no mkdir at all
]


@pytest.mark.parametrize(("kind", "method", "point"), WRITING_CASES)
def test_a_failure_at_any_point_of_writing_leaves_dest_as_it_was(
    tmp_path: Path, kind: str, method: str, point: str
) -> None:
    _fail_while_writing(tmp_path, kind, method, point, OSError(28, "No space left on device"))


@pytest.mark.parametrize("kind", KINDS)
def test_an_interrupt_midway_is_rolled_back(tmp_path: Path, kind: str) -> None:
    _fail_while_writing(tmp_path, kind, "replace", "middle", KeyboardInterrupt())


def test_a_failure_is_reported_as_a_system_failure(tmp_path: Path) -> None:
    with pytest.MonkeyPatch.context() as patch:
        where = into(tmp_path / "shop")
        _patched(patch, "replace", where, 3, OSError(28, "No space left on device"))
        with pytest.raises(SystemFailureError, match="No space left on device"):
            init_project(tmp_path / "shop", git=False)


@pytest.mark.parametrize("point", ["first", "last"])
def test_a_failure_in_a_new_nested_destination_leaves_no_directory(
    tmp_path: Path, point: str
) -> None:
    _fail_while_writing(
        tmp_path, "new-with-parents", "replace", point, OSError(5, "Input/output error")
    )


@pytest.mark.parametrize("point", POINTS)
def test_a_failure_while_rendering_leaves_dest_alone_and_is_a_floe_error(
    tmp_path: Path, point: str
) -> None:
    probe, _ = prepare("user-files", tmp_path / "probe")
    total = count_calls("mkdir", rendering, lambda: init_project(probe, git=False))
    root = tmp_path / "run"
    dest, _ = prepare("user-files", root)
    before, names = tree_snapshot(root), listing(root)
    with pytest.MonkeyPatch.context() as patch:
        _patched(patch, "mkdir", rendering, _index(point, total), OSError(28, "No space left"))
        try:
            init_project(dest, git=False)
        except Exception as error:  # noqa: BLE001 - checked below, after DEST is compared
            raised: Exception | None = error
        else:
            raised = None
    assert tree_snapshot(root) == before
    assert listing(root) == names
    assert isinstance(raised, SystemFailureError), repr(raised)


def test_the_simulation_reaches_the_writes(tmp_path: Path) -> None:
    """Not vacuous: init really goes through both calls into DEST, many times."""
    dest = tmp_path / "shop"
    assert count_calls("replace", into(dest), lambda: init_project(dest, git=False)) >= 10
    other = tmp_path / "other"
    assert count_calls("mkdir", into(other), lambda: init_project(other, git=False)) >= 5
    again = tmp_path / "again"
    assert count_calls("mkdir", rendering, lambda: init_project(again, git=False)) >= 5
