"""Injection through ``floe init``: values cannot add keys, run code, or write outside the project.

Contract values and project names carrying newlines (also NEL and U+2028), YAML syntax, Jinja
delimiters (ours, copier's and dbt's are the same ``{{ }}``/``{% %}``), shell metacharacters and
path segments (``..``, absolute paths) are either refused (exit 1, ``field.path: message`` lines,
nothing written) or end up as inert data: every generated YAML/TOML file parses to exactly the
structure floe writes, a Jinja expression is never evaluated (``{{ 'floe' ~ 'pwned' }}`` would
print ``floepwned``), no command runs (``touch PWNED`` would leave a file), and nothing appears
outside the destination.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from floe_scaffold.project._locate import tomllib
from tests.helpers import FloeRunner, build_contract, contract_for, tree_snapshot, write_json

MARKER = "PWNED"
EVALUATED = b"floepwned"
#: Snippets that would change a file's structure, or run something, if pasted unescaped.
PAYLOADS = [
    "\n",
    "\r\n",
    "\x85",  # NEL: a line break for YAML 1.1 readers
    "\u2028",
    ": ",
    "\n- item",
    "\nextra_key: 1",
    " #comment",
    "&anchor ",
    "*alias",
    "!!python/object/apply:os.system ['touch PWNED']",
    "---\n",
    "...",
    "'",
    '"',
    "\\",
    "\t",
    "{{ 'floe' ~ 'pwned' }}",
    "{% raw %}",
    "{#",
    "${HOME}",
    "$(touch PWNED)",
    "`touch PWNED`",
    "; touch PWNED",
    "| touch PWNED",
    "&& touch PWNED",
    "../../PWNED",
    "/etc/passwd",
    '"""\nimport os; os.system("touch PWNED")\n"""',
    "[project]\nname = 'evil'",
]
NASTY_TEXT = st.lists(
    st.sampled_from(PAYLOADS) | st.text(alphabet="ab _-.", min_size=1, max_size=3),
    min_size=1,
    max_size=4,
).map("".join)
JINJA = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")
#: The same payloads less Jinja (which a profile setting refuses): contracts that must render.
INERT_TEXT = (
    st.lists(
        st.sampled_from([payload for payload in PAYLOADS if not JINJA.search(payload)])
        | st.text(alphabet="ab _-.", min_size=1, max_size=3),
        min_size=1,
        max_size=4,
    )
    .map("".join)
    .filter(lambda text: text.strip(" _-."))
)
# Each example renders a project (about 0.7 s); failures are reported unshrunk.
RENDERING = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@contextmanager
def sandbox() -> Iterator[Path]:
    """A fresh directory; on exit, proves no ``PWNED`` file appeared in it or the cwd."""
    with tempfile.TemporaryDirectory() as name:
        root = Path(name)
        before = set(Path.cwd().glob(f"{MARKER}*"))
        yield root
        assert not list(root.rglob(f"{MARKER}*")), "a value was run as a command"
        assert set(Path.cwd().glob(f"{MARKER}*")) == before, "a value was run as a command"


def outside(root: Path, dest: Path) -> dict[str, bytes]:
    """Every file under ``root`` but not under ``dest``."""
    return {
        name: content
        for name, content in tree_snapshot(root).items()
        if not (root / name).is_relative_to(dest)
    }


def assert_refused_cleanly(stderr: str, *paths: str) -> None:
    assert "Traceback" not in stderr
    lines = stderr.rstrip("\n").split("\n")
    assert lines[0].startswith("error: "), stderr[:500]
    issues = [line[2:] for line in lines[1:]]
    assert issues and all(re.match(r"^\S[^:]*: .", issue) for issue in issues), stderr[:1000]
    if paths:
        assert any(issue.startswith(paths) for issue in issues), stderr[:1000]


def generated_package(dest: Path) -> str:
    (package,) = [p.name for p in (dest / "src").iterdir() if (p / "definitions.py").is_file()]
    return package


def assert_inert(dest: Path, contract: dict[str, Any]) -> dict[str, Any]:
    """Nothing evaluated, and every generated YAML/TOML file has the structure floe writes.

    Returns the profile output, for the caller to compare values with what it gave.
    """
    for path in dest.rglob("*"):
        if path.is_file() and ".git" not in path.relative_to(dest).parts:
            assert EVALUATED not in path.read_bytes(), f"Jinja was evaluated in {path}"
    stored = (dest / ".floe/compiled_artifacts.json").read_text(encoding="utf-8")
    assert json.loads(stored) == contract
    answers = yaml.safe_load((dest / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert isinstance(answers, dict)
    assert isinstance(answers["floe"], dict)
    assert set(answers) <= {"_commit", "_src_path", "floe"}
    package = generated_package(dest)
    assert package.isidentifier()
    defs_file = dest / "src" / package / "defs/dbt_project/defs.yaml"
    defs = yaml.safe_load(defs_file.read_text(encoding="utf-8"))
    assert set(defs) == {"type", "attributes"}
    assert defs["type"] == "floe_scaffold.components.FloeDbtProject"
    attributes = defs["attributes"]
    assert set(attributes) == {"dbt_project", "profiles_dir", "target", "profile", "artifacts"}
    assert all(isinstance(value, str) for value in attributes.values())
    assert not any(JINJA.search(value) for value in attributes.values())
    for key in ("dbt_project", "profiles_dir"):
        assert (dest / attributes[key]).resolve().is_relative_to(dest.resolve())
    profiles = dest / attributes["profiles_dir"] / "profiles.yml"
    profile = yaml.safe_load(profiles.read_text(encoding="utf-8"))
    assert list(profile) == [attributes["profile"]]
    assert set(profile[attributes["profile"]]) == {"target", "outputs"}
    outputs = profile[attributes["profile"]]["outputs"]
    assert list(outputs) == [attributes["target"]]
    pyproject = tomllib.loads((dest / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["name"] == package.replace("_", "-")
    assert pyproject["tool"]["dg"]["project"]["root_module"] == package
    dbt_project = yaml.safe_load(
        (dest / attributes["dbt_project"] / "dbt_project.yml").read_text(encoding="utf-8")
    )
    assert dbt_project["name"] == package
    assert dbt_project["profile"] == attributes["profile"]
    output: dict[str, Any] = outputs[attributes["target"]]
    return output


# --------------------------------------------------------------------------------------------
# Project names
# --------------------------------------------------------------------------------------------

NAMES = st.text(
    alphabet=st.sampled_from(list("abcXYZ019_-. /\\$`;|&<>(){}[]'\"\n\t*?~!#%=+,:éß")),
    min_size=1,
    max_size=24,
) | st.sampled_from(
    ["../../evil", "/etc/passwd", "$(touch PWNED)", "`touch PWNED`", "a;touch PWNED", "..", "."]
)


#: Each branch a property below accepts is taken at least this often (examples are fixed).
MIN_PER_BRANCH = 3


def _alphanumerics(text: str) -> str:
    # accents are dropped first (é → e), then every other non-ASCII character
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return "".join(char for char in folded if char in "abcdefghijklmnopqrstuvwxyz0123456789")


@pytest.mark.requirement("FR-006")
def test_project_names_are_normalized_or_refused(floe: FloeRunner) -> None:
    outcomes: Counter[str] = Counter()

    @RENDERING
    @given(raw=NAMES)
    def check(raw: str) -> None:
        with sandbox() as root:
            dest = root / "dest"
            before = tree_snapshot(root)
            result = floe("init", dest, "--name", raw)
            if result.exit_code == 0:
                outcomes["normalized"] += 1
                package = generated_package(dest)
                # The README's rule, as properties (the exact spellings are in the table below):
                # lower-case letters, digits and single underscores, nothing else kept.
                assert package.isidentifier() and package == package.lower()
                assert "__" not in package and not package.startswith("_")
                assert package.replace("_", "") == _alphanumerics(raw)
                assert outside(root, dest) == before
            else:
                outcomes["refused"] += 1
                assert result.exit_code == 1, result.stderr
                assert_refused_cleanly(result.stderr, "name")
                assert not dest.exists()
                assert tree_snapshot(root) == before

    check()
    assert outcomes["normalized"] >= MIN_PER_BRANCH, outcomes
    assert outcomes["refused"] >= 1, outcomes


#: Names and the package the README's rule makes of them, worked out by hand.
PACKAGE_NAMES = {
    "a;touch PWNED": "a_touch_pwned",
    "$(touch PWNED)": "touch_pwned",
    "`touch PWNED`": "touch_pwned",
    "x y": "x_y",
    "-rf": "rf",
    "a'b\"c": "a_b_c",
    "a|b&c": "a_b_c",
}


@pytest.mark.parametrize(
    "name",
    ["a;touch PWNED", "$(touch PWNED)", "`touch PWNED`", "x y", "-rf", "a'b\"c", "a|b&c"],
)
def test_a_destination_with_shell_syntax_is_printed_quoted(floe: FloeRunner, name: str) -> None:
    with sandbox() as root:
        dest = root / name
        result = floe("init", dest)
        assert result.exit_code == 0, result.stderr
        assert generated_package(dest) == PACKAGE_NAMES[name]
        (cd_line,) = [line for line in result.stdout.splitlines() if line.startswith("  cd ")]
        assert shlex.split(cd_line) == ["cd", str(dest)]
        assert outside(root, dest) == {}


def test_a_destination_named_dot_dot_is_refused(floe: FloeRunner) -> None:
    with sandbox() as root:
        (root / "sub").mkdir()
        before = tree_snapshot(root)
        result = floe("init", root / "sub" / "..")
        assert result.exit_code == 1
        assert_refused_cleanly(result.stderr, "name")
        assert tree_snapshot(root) == before
        assert sorted(p.name for p in root.iterdir()) == ["sub"]


# --------------------------------------------------------------------------------------------
# Contract values
# --------------------------------------------------------------------------------------------

#: Postgres properties that are settings, never credentials: they must reach the profile as given.
SETTINGS = ("host", "database", "schema", "application_name")


@st.composite
def poisoned_contracts(draw: st.DrawFn) -> dict[str, Any]:
    """A postgres contract with injection payloads in free text and in profile settings."""
    # Half the examples hold only what a contract may hold (no Jinja in profile settings, valid
    # Kubernetes slugs, no environment name), so both branches of the property (rendered
    # inert, refused cleanly) are taken; payloads still fill every free-text field.
    renderable = draw(st.booleans())
    settings_text = INERT_TEXT if renderable else NASTY_TEXT
    properties: dict[str, Any] = {"port": 5432}
    for key in draw(st.lists(st.sampled_from(SETTINGS), min_size=1, unique=True)):
        properties[key] = draw(settings_text)
    contract = contract_for("postgres", properties=properties)
    text = NASTY_TEXT
    slugs = st.sampled_from(["acme", "shop-eu", "t1"]) if renderable else text
    contract["metadata"]["floe_core_version"] = draw(text)
    contract["metadata"]["source_hash"] = draw(text)
    contract["lineage_namespace"] = draw(text)
    contract["observability"] = {
        "attributes": draw(st.dictionaries(text, text, max_size=2)),
        "lineage_endpoint": draw(text),
        "otlp_endpoint": draw(text),
    }
    contract["governance"] = {"policies": draw(st.dictionaries(text, text, max_size=2))}
    contract["column_classifications"] = {
        draw(text): {draw(text): {"classification": draw(text), "pii_type": draw(text)}}
    }
    contract["environment_context"] = {
        "tenant_id": "00000000-0000-0000-0000-000000000001",
        # Slugs name Kubernetes objects: anything else is refused.
        "tenant_slug": draw(slugs),
        "project_id": "00000000-0000-0000-0000-000000000002",
        "project_slug": draw(slugs),
        "environment_id": "00000000-0000-0000-0000-000000000003",
        "environment_type": "development",
        "governance_category": "non_production",
    }
    if not renderable and draw(st.booleans()):  # an environment name: refused unless valid
        contract["transforms"][0]["target"] = draw(text)
    return contract


@pytest.mark.requirement("FR-003")
@pytest.mark.requirement("FR-004")
def test_contract_values_stay_inert(floe: FloeRunner) -> None:
    outcomes: Counter[str] = Counter()

    @settings(RENDERING, max_examples=20)  # half renderable: 3 or more rendered, surely
    @given(contract=poisoned_contracts())
    def check(contract: dict[str, Any]) -> None:
        with sandbox() as root:
            source = write_json(root, contract, "c.json")
            dest = root / "proj"
            before = tree_snapshot(root)
            result = floe("init", dest, "--artifacts", source)
            if result.exit_code != 0:
                outcomes["refused"] += 1
                assert result.exit_code == 1, result.stderr
                assert_refused_cleanly(result.stderr)
                assert tree_snapshot(root) == before
                assert not dest.exists()
                return
            outcomes["rendered"] += 1
            output = assert_inert(dest, contract)
            for key in SETTINGS:
                if key in contract["compute"]["properties"]:
                    given_value = contract["compute"]["properties"][key]
                    written_key = "dbname" if key == "database" else key
                    assert output[written_key] == given_value, (key, output)
            assert outside(root, dest) == before

    check()
    assert outcomes["rendered"] >= MIN_PER_BRANCH, outcomes
    assert outcomes["refused"] >= 1, outcomes


def test_jinja_in_a_profile_setting_is_refused(floe: FloeRunner) -> None:
    """The refusal the property above relies on, shown once: dbt would evaluate it."""
    contract = contract_for(
        "postgres", properties={"host": "db", "schema": "{{ env_var('HOME') }}"}
    )
    with sandbox() as root:
        result = floe("init", root / "proj", "--artifacts", write_json(root, contract, "c.json"))
        assert result.exit_code == 1
        assert_refused_cleanly(result.stderr, "compute.properties.schema")
        assert not (root / "proj").exists()


# --------------------------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------------------------

ESCAPES = [
    "../outside",
    "a/../../outside",
    "/tmp/floe-absolute",
    "\\server\\share",
    "C:\\outside",
    "x\n/../../outside",
    "..",
    "{{ '..' }}/outside",
]
PATH_FIELDS = ["dbt_profiles_path", "dbt_project_path", "transforms"]


ESCAPE_CASES = [
    pytest.param(field, path, id=f"{field}-{path}") for field in PATH_FIELDS for path in ESCAPES
]


@pytest.mark.requirement("FR-005")
@pytest.mark.parametrize(("field", "path"), ESCAPE_CASES)
def test_paths_that_leave_the_project_are_refused(floe: FloeRunner, field: str, path: str) -> None:
    if field == "transforms":
        contract = build_contract(transforms=[{"type": "dbt", "path": path}])
    else:
        contract = build_contract(**{field: path})
    with sandbox() as root:
        dest = root / "deep" / "proj"
        dest.mkdir(parents=True)
        (dest / "mine.txt").write_text("mine", encoding="utf-8")
        source = write_json(root, contract, "c.json")
        before = tree_snapshot(root)
        result = floe("init", dest, "--artifacts", source)
        assert result.exit_code == 1, result.stdout + result.stderr
        assert_refused_cleanly(result.stderr, field)
        assert tree_snapshot(root) == before
        assert not Path("/tmp/floe-absolute").exists()


@pytest.mark.parametrize(
    "path", ["$(touch PWNED)", "`touch PWNED`", "a;touch PWNED|x", "-rf", "a b"]
)
@pytest.mark.parametrize("field", ["dbt_profiles_path", "dbt_project_path"])
def test_paths_with_shell_syntax_are_plain_names_inside_the_project(
    floe: FloeRunner, field: str, path: str
) -> None:
    contract = build_contract(**{field: path})
    with sandbox() as root:
        dest = root / "proj"
        result = floe("init", dest, "--artifacts", write_json(root, contract, "c.json"))
        assert result.exit_code == 0, result.stderr
        assert (dest / path).is_dir()
        assert_inert(dest, contract)
        assert set(outside(root, dest)) == {"c.json"}


# --------------------------------------------------------------------------------------------
# Code in generated files, and paths that collide with floe's own files
# --------------------------------------------------------------------------------------------


def test_a_path_cannot_inject_code_into_the_generated_tests(floe: FloeRunner) -> None:
    path = 'x" if __import__("os").system("touch PWNED") else "'
    contract = build_contract(dbt_project_path=path)
    with sandbox() as root:
        dest = root / "proj"
        result = floe("init", dest, "--artifacts", write_json(root, contract, "c.json"))
        if result.exit_code != 0:  # refusing such a path is a fix too
            assert_refused_cleanly(result.stderr, "dbt_project_path")
            return
        for source in dest.rglob("*.py"):
            tree = ast.parse(source.read_text(encoding="utf-8"))
            calls = {
                node.func.attr
                if isinstance(node.func, ast.Attribute)
                else getattr(node.func, "id", "")
                for node in ast.walk(tree)
                if isinstance(node, ast.Call)
            }
            assert "system" not in calls and "__import__" not in calls, source


@pytest.mark.parametrize(
    ("field", "path"),
    [
        ("dbt_profiles_path", "pyproject.toml"),
        ("dbt_profiles_path", ".floe/compiled_artifacts.json"),
        ("dbt_profiles_path", "README.md/x"),
        ("dbt_project_path", "pyproject.toml"),
    ],
)
def test_a_path_naming_a_generated_file_is_refused_cleanly(
    field: str, path: str, tmp_path: Path
) -> None:
    from floe_scaffold._cli import main

    source = write_json(tmp_path, build_contract(**{field: path}), "c.json")
    code = main(["init", str(tmp_path / "proj"), "--artifacts", str(source)])
    assert code == 1
    assert not (tmp_path / "proj").exists()
