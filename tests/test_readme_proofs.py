"""The documented claims point at real proofs: every test named exists, every claim names one.

The docs' "What proves it" page (``docs/proofs.md``) pairs each claim a user relies on (failed
runs, updates, deploy, lineage, telemetry, performance) with the test that asserts it or the bench
command that measured it. A test renamed or deleted would leave the docs pointing at nothing,
and a claim added without a proof would read as checked when it is not: both fail here. (Which
assertion proves what is read by people; that a test can fail at all is what
``tests/mutations.py`` and the suite's own rules are for.)
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

from tests.helpers import DOCS, ROOT, docs_page

#: A pytest node id in backticks: `tests/x/test_y.py::test_z` (or ::Class::test_z).
NODE = re.compile(r"`(tests/[\w/]+\.py)::([\w:]+)`")
#: A bench command in backticks: `python -m bench.runs --models 1000`.
BENCH = re.compile(r"`python -m (bench\.\w+)[^`]*`")
INDEX = "# What proves it"
#: The documentation's sections whose claims the index covers, as its sub-headings name them.
SECTIONS = (
    "Failed runs",
    "Updates",
    "Deploy",
    "OpenLineage",
    "OpenTelemetry",
    "Benchmarks",
)


def _readme() -> str:
    """Every page of the documentation, the README first."""
    pages = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
    return "\n".join(page.read_text(encoding="utf-8") for page in pages)


def _index() -> str:
    index = docs_page("proofs.md")
    assert index.startswith(INDEX + "\n"), f"docs/proofs.md does not start with {INDEX!r}"
    return index


def _defined(path: Path) -> set[str]:
    """The test functions of a module: ``name`` at top level, ``Class::name`` in a class."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.update(
                f"{node.name}::{item.name}"
                for item in node.body
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
            )
    return names


def _rows(text: str) -> list[list[str]]:
    """The body rows of the markdown tables in ``text``, as cells."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells[0] != "Claim":
            rows.append(cells)
    return rows


def test_every_test_the_readme_names_exists() -> None:
    named = NODE.findall(_readme())
    assert len(named) >= 40, "the index names the tests"
    for path, name in named:
        module = ROOT / path
        assert module.is_file(), f"README names {path}, which does not exist"
        assert name in _defined(module), f"README names {path}::{name}, which does not exist"


def test_every_bench_command_the_readme_names_exists() -> None:
    for module in set(BENCH.findall(_readme())):
        assert importlib.util.find_spec(module) is not None, f"README runs {module}"


def test_every_claim_of_the_index_names_its_proof() -> None:
    index = _index()
    headings = re.findall(r"(?m)^## (.+)$", index)
    assert [h for h in headings if h in SECTIONS] == list(SECTIONS), headings
    rows = _rows(index)
    assert len(rows) >= 40, "the claims a user relies on, section by section"
    for cells in rows:
        assert len(cells) == 2, cells
        claim, proof = cells
        assert claim, cells
        assert NODE.search(proof) or BENCH.search(proof), f"no test or bench named for {claim!r}"


def test_the_checks_see_a_missing_test() -> None:
    """The same rules on a row naming a test that is not there: it is caught."""
    row = "| a claim | `tests/test_readme_proofs.py::test_that_was_renamed` |"
    (cells,) = _rows(row)
    ((path, name),) = NODE.findall(cells[1])
    assert name not in _defined(ROOT / path)
    assert "test_the_checks_see_a_missing_test" in _defined(ROOT / path)
