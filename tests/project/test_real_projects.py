"""Real dbt projects nobody here wrote, on the first try: dbt-labs' ``jaffle_shop_duckdb``.

The project is used as it is, with the real ``dbt_utils`` as a ``local:`` package (the dbt hub
and git remotes are unreachable here) and a DuckDB file in a folder that does not exist yet. No
manual step: ``floe init --artifacts`` and ``floe run`` must install the packages, create the
folder and materialize every asset; the generated project's own ``pytest`` and ``dg check defs``
pass; and its asset graph is the one ``dagster-dbt project scaffold`` builds for the same project.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from floe_scaffold.components._local_files import duckdb_database_path
from floe_scaffold.components._manifest import PackagesError, ensure_manifest
from tests.helpers import DBT_UTILS_DIR, JAFFLE_SHOP_DIR, build_contract, write_json
from tests.project.conftest import BIN, quiet_env, run_in

pytestmark = pytest.mark.slow

#: jaffle_shop_duckdb's seeds and models (its 20 data tests are asset checks).
JAFFLE_ASSETS = {
    "raw_customers",
    "raw_orders",
    "raw_payments",
    "stg_customers",
    "stg_orders",
    "stg_payments",
    "customers",
    "orders",
}
DUCKDB_PATH = "data/jaffle_shop.duckdb"


def _jaffle_workspace(root: Path) -> Path:
    """A user's folder: the dbt project (with dbt_utils as a local package) inside the project."""
    project = root / "shop"
    project.mkdir(parents=True)
    shutil.copytree(JAFFLE_SHOP_DIR, project / "jaffle_shop")
    shutil.copytree(DBT_UTILS_DIR, root / "dbt_utils")
    (project / "jaffle_shop" / "packages.yml").write_text(
        "packages:\n  - local: ../../dbt_utils\n", encoding="utf-8"
    )
    return project


@pytest.fixture(scope="module")
def jaffle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """jaffle_shop_duckdb generated into a project with ``floe init``, nothing run yet."""
    root = tmp_path_factory.mktemp("real")
    project = _jaffle_workspace(root)
    contract = build_contract(
        compute={"target": "duckdb", "properties": {"path": DUCKDB_PATH}},
        transforms=[{"type": "dbt", "path": "./jaffle_shop"}],
    )
    artifacts = write_json(root, contract)
    done = run_in(project, str(BIN / "floe"), "init", ".", "--artifacts", str(artifacts))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "using the existing dbt project in jaffle_shop/" in done.stdout
    return project


@pytest.fixture(scope="module")
def jaffle_ran(jaffle: Path) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The generated jaffle_shop project after one ``floe run`` (no manual step before it)."""
    dbt_dir = jaffle / "jaffle_shop"
    assert not (dbt_dir / "dbt_packages").exists()
    assert not (dbt_dir / "data").exists()
    return jaffle, run_in(jaffle, str(BIN / "floe"), "run")


@pytest.mark.requirement("FR-007")
def test_floe_run_installs_packages_and_materializes_every_asset(
    jaffle_ran: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    project, done = jaffle_ran
    assert done.returncode == 0, done.stdout + done.stderr
    dbt_dir = project / "jaffle_shop"
    assert (dbt_dir / "dbt_packages" / "dbt_utils" / "dbt_project.yml").is_file()
    assert (dbt_dir / "package-lock.yml").is_file()
    table = done.stdout.split("\nrun ")[-1]
    rows = {line.split("│")[1].strip(): line for line in table.splitlines() if "│" in line}
    assert set(rows) == JAFFLE_ASSETS
    assert all("success" in row for row in rows.values()), table
    assert "Done. PASS=28 WARN=0 ERROR=0 SKIP=0" in done.stdout
    import duckdb

    # The DuckDB file is where the profile says, resolved from the dbt project directory.
    with duckdb.connect(str(dbt_dir / DUCKDB_PATH), read_only=True) as db:
        customers = db.execute("select count(*) from customers").fetchone()
    assert customers == (100,)


def test_the_generated_projects_own_checks_pass(
    jaffle_ran: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    project, ran = jaffle_ran
    assert ran.returncode == 0, ran.stdout + ran.stderr
    tests = run_in(project, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider")
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "4 passed" in tests.stdout
    check = run_in(project, str(BIN / "dg"), "check", "defs")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "All definitions loaded successfully" in check.stdout + check.stderr


_GRAPH_DUMP = """
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
loaded = importlib.import_module(sys.argv[2]).defs
defs = loaded() if callable(loaded) else loaded
graph = defs.resolve_asset_graph()
print(json.dumps({
    "assets": {
        key.to_user_string(): sorted(p.to_user_string() for p in graph.get(key).parent_keys)
        for key in graph.get_all_asset_keys() if graph.get(key).is_materializable
    },
    "checks": sorted(
        f"{check.asset_key.to_user_string()}:{check.name}" for check in graph.asset_check_keys
    ),
}))
"""


def _graph(source_dir: Path, module: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _GRAPH_DUMP, str(source_dir), module],
        # The scaffold's DbtCliResource looks for `dbt` on PATH, as in an activated virtualenv.
        env=quiet_env(PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **(env or {})),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def scaffold_graph(
    dbt_dir: Path, where: Path, name: str, profiles_dir: Path | None = None
) -> dict[str, Any]:
    """The asset graph of ``dagster-dbt project scaffold`` for ``dbt_dir``, made in ``where``.

    The scaffold reads the manifest floe prepared (``target/manifest.json`` of the same project).
    It looks for ``profiles.yml`` only in the dbt project and ``~/.dbt``: a project without one
    gets ``profiles_dir``'s (floe's) as ``~/.dbt/profiles.yml`` of a home of its own, and the
    scaffold's ``DbtProject`` is given ``profiles_dir``.
    """
    home: dict[str, str] = {}
    if profiles_dir is not None:
        (where / "home" / ".dbt").mkdir(parents=True)
        shutil.copy(profiles_dir / "profiles.yml", where / "home" / ".dbt" / "profiles.yml")
        home["HOME"] = str(where / "home")
    scaffold = subprocess.run(
        [
            str(BIN / "dagster-dbt"),
            "project",
            "scaffold",
            "--project-name",
            name,
            "--dbt-project-dir",
            str(dbt_dir),
        ],
        cwd=where,
        env=quiet_env(**home),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert scaffold.returncode == 0, scaffold.stdout + scaffold.stderr
    if profiles_dir is not None:
        # As its user would: DbtProject's profiles_dir (else the dbt project) names the folder.
        project_py = where / name / name / "project.py"
        text = project_py.read_text(encoding="utf-8")
        anchor = "    packaged_project_dir="
        assert anchor in text, text
        text = text.replace(anchor, f"    profiles_dir={str(profiles_dir)!r},\n{anchor}")
        project_py.write_text(text, encoding="utf-8")
    return _graph(where / name, f"{name}.definitions")


@pytest.mark.requirement("FR-007")
@pytest.mark.requirement("FR-008")
def test_asset_graph_equals_dagster_dbt_scaffold(
    jaffle_ran: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    project, ran = jaffle_ran
    assert ran.returncode == 0, ran.stdout + ran.stderr
    plain = scaffold_graph(project / "jaffle_shop", tmp_path, "plain_jaffle")
    ours = _graph(project / "src", f"{project.name}.definitions")
    assert set(ours["assets"]) == JAFFLE_ASSETS
    assert ours == plain
    assert len(ours["checks"]) == 20


# -- packages, in detail (real `dbt deps` on a small project with a local package) ----------


def _small_project_with_package(root: Path) -> Path:
    dbt_dir = root / "dbt"
    (dbt_dir / "models").mkdir(parents=True)
    shutil.copytree(DBT_UTILS_DIR, root / "dbt_utils")
    (dbt_dir / "dbt_project.yml").write_text(
        "name: small\nversion: '1.0'\nconfig-version: 2\nprofile: small\n", encoding="utf-8"
    )
    (dbt_dir / "packages.yml").write_text("packages:\n  - local: ../dbt_utils\n", encoding="utf-8")
    (dbt_dir / "models" / "keys.sql").write_text(
        "select {{ dbt_utils.generate_surrogate_key(['1', '2']) }} as id\n", encoding="utf-8"
    )
    profiles = root / "profiles"
    profiles.mkdir()
    (profiles / "profiles.yml").write_text(
        "small:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: ':memory:'\n",
        encoding="utf-8",
    )
    return dbt_dir


def test_deps_runs_once_and_again_only_when_the_declaration_changes(tmp_path: Path) -> None:
    dbt_dir = _small_project_with_package(tmp_path)
    profiles = tmp_path / "profiles"
    manifest = ensure_manifest(dbt_dir, profiles, target=None, profile=None)
    stamp = dbt_dir / "dbt_packages" / ".floe_deps.fingerprint"
    assert stamp.is_file() and (dbt_dir / "dbt_packages" / "dbt_utils").exists()
    nodes = json.loads(manifest.read_text(encoding="utf-8"))["nodes"]
    assert "dbt_utils.generate_surrogate_key" in nodes["model.small.keys"]["raw_code"]
    first = stamp.stat().st_mtime_ns

    ensure_manifest(dbt_dir, profiles, target=None, profile=None, mode="always")
    assert stamp.stat().st_mtime_ns == first, "nothing changed: dbt deps did not run again"

    shutil.rmtree(dbt_dir / "dbt_packages")
    ensure_manifest(dbt_dir, profiles, target=None, profile=None, mode="always")
    assert (dbt_dir / "dbt_packages" / "dbt_utils").exists(), "a removed install is redone"

    recorded = stamp.read_text(encoding="utf-8")
    (dbt_dir / "packages.yml").write_text(
        "packages:\n  - local: ../dbt_utils  # pinned locally\n", encoding="utf-8"
    )
    ensure_manifest(dbt_dir, profiles, target=None, profile=None, mode="always")
    assert stamp.read_text(encoding="utf-8") != recorded, "a changed declaration reinstalls"


def test_a_failing_dbt_deps_gets_its_own_clear_error(tmp_path: Path) -> None:
    dbt_dir = _small_project_with_package(tmp_path)
    (dbt_dir / "packages.yml").write_text(
        "packages:\n  - local: ../no_such_package\n", encoding="utf-8"
    )
    with pytest.raises(PackagesError) as raised:
        ensure_manifest(dbt_dir, tmp_path / "profiles", target=None, profile=None)
    message = str(raised.value)
    assert message.startswith(f"dbt deps failed for {dbt_dir}")
    assert "dbt deps alone: " in message
    assert "deps --project-dir" in message, "the command to run again is named"
    assert "no_such_package" in message, "dbt's own error names the package"
    assert not (dbt_dir / "target" / "manifest.json").exists()


def test_deps_installed_by_the_user_are_adopted_without_running_dbt_deps(tmp_path: Path) -> None:
    dbt_dir = _small_project_with_package(tmp_path)
    # As if the user had run `dbt deps` themselves: the package is there, floe's stamp is not.
    (dbt_dir / "dbt_packages").mkdir()
    (dbt_dir / "dbt_packages" / "dbt_utils").symlink_to(tmp_path / "dbt_utils")
    # A declaration dbt deps could not install proves that floe did not call it: a version the
    # hub never had, so dbt deps fails with a network (CI with internet) as without one.
    (dbt_dir / "packages.yml").write_text(
        "packages:\n  - package: dbt-labs/dbt_utils\n    version: 99.0.0\n", encoding="utf-8"
    )
    ensure_manifest(dbt_dir, tmp_path / "profiles", target=None, profile=None)
    assert (dbt_dir / "dbt_packages" / ".floe_deps.fingerprint").is_file()
    assert (dbt_dir / "target" / "manifest.json").is_file()


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("data/warehouse.duckdb", "dbt/data/warehouse.duckdb"),
        ("warehouse.duckdb", "dbt/warehouse.duckdb"),
        ("/abs/w.duckdb", "/abs/w.duckdb"),
        (":memory:", None),
        ("md:my_db", None),
        ("{{ env_var('NO_SUCH_FLOE_VARIABLE') }}/w.duckdb", None),
    ],
)
def test_duckdb_paths_resolve_from_the_dbt_project(path: str, expected: str | None) -> None:
    root = Path("/project")
    found = duckdb_database_path({"type": "duckdb", "path": path}, root / "dbt")
    assert found == (None if expected is None else root / expected)
    assert duckdb_database_path({"type": "postgres", "path": path}, root / "dbt") is None
