"""Property tests of the CLI over random contracts: ``floe validate``, ``profiles``, ``init``.

``tests/contract/test_contract_properties.py`` already drives ``floe validate`` and ``floe
profiles`` with random invalid files and checks the model's JSON round trip. Here:

* ``floe init`` gets the same random invalid files (wrong types, unknown keys, broken JSON, huge
  and non-UTF-8 strings), named with ``--artifacts`` or found in ``DEST/.floe``: exit 1, every
  line ``field.path: message``, no traceback, the destination exactly as it was;
* random *valid* contracts go through ``validate``, ``profiles`` and ``init``: each either
  succeeds or refuses cleanly (a profile cannot always be built from random properties); ``init``
  keeps the contract byte for byte, and it parses back to an equal model whose JSON is unchanged;
* a few random valid contracts render projects whose definitions load (``dg check defs``, with
  each target's real adapter running ``dbt parse``).
"""

from __future__ import annotations

import json
import os
import posixpath
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from floe_scaffold.contract import CompiledArtifacts, parse_artifacts
from floe_scaffold.profiles import Environment, build_profile, default_environment_name
from floe_scaffold.project import init_project
from tests.contract.test_contract_properties import (
    CONTRACTS,
    BadFile,
    assert_clear_error,
    bad_files,
)
from tests.hardening.test_injection import assert_refused_cleanly
from tests.helpers import TARGET_PROPERTIES, TARGETS, FloeRunner, build_contract, tree_snapshot
from tests.project.conftest import BIN, run_in

FAST = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Each example renders a project; failures are reported unshrunk rather than re-rendered 100 times.
RENDERING = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
LOADING = settings(
    max_examples=3,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _dump(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")


def _generated_files() -> frozenset[str]:
    """The files ``floe init`` writes for a project named ``proj`` (the demo contract)."""
    with tempfile.TemporaryDirectory() as name:
        dest = Path(name) / "proj"
        init_project(dest, git=False)
        return frozenset(tree_snapshot(dest))


GENERATED = _generated_files()


def collides(contract: dict[str, Any]) -> bool:
    """Whether a contract path names a file the template writes (a known defect, pinned in
    ``test_injection.test_a_path_naming_a_generated_file_is_refused_cleanly``)."""
    paths = [
        contract.get("dbt_profiles_path"),
        contract.get("dbt_project_path"),
        *(t["path"] for t in contract["transforms"]),
    ]
    for raw in filter(None, paths):
        path = posixpath.normpath(str(raw).replace("\\", "/"))
        if any(path == name or path.startswith(name + "/") for name in GENERATED):
            return True
    return False


def tame(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with property names that print on one line (no control character, no ``:``).

    Error lines echo property names as they are, so a name with a newline splits its line and a
    ``:v:`` becomes an emoji; both defects are pinned in ``test_error_lines`` below, and kept out
    of the properties here so that these check everything else.
    """
    properties = data["compute"].get("properties")
    if isinstance(properties, dict):
        data["compute"]["properties"] = {
            "".join(c if c.isprintable() and c != ":" else "_" for c in key): value
            for key, value in properties.items()
        }
    return data


TAME_CONTRACTS = CONTRACTS.map(tame)


# --------------------------------------------------------------------------------------------
# Invalid contracts: floe init
# --------------------------------------------------------------------------------------------


@pytest.mark.requirement("FR-001")
@FAST
@given(bad=bad_files())
def test_init_refuses_invalid_artifacts_and_leaves_dest_as_it_was(
    floe: FloeRunner, bad: BadFile
) -> None:
    with tempfile.TemporaryDirectory() as name:
        root = Path(name)
        source = root / "compiled_artifacts.json"
        source.write_bytes(bad.content)
        dest = root / "dest"
        dest.mkdir()
        (dest / "notes.txt").write_text("mine\n", encoding="utf-8")
        before = tree_snapshot(root)
        result = floe("init", dest, "--artifacts", source)
        assert result.exit_code == 1, (bad.label, result.stderr[:500])
        assert result.stdout == ""
        assert_clear_error(result.stderr, bad.expected_path)
        assert tree_snapshot(root) == before
        assert sorted(p.name for p in dest.iterdir()) == ["notes.txt"]


@pytest.mark.requirement("FR-001")
@FAST
@given(bad=bad_files())
def test_init_refuses_invalid_artifacts_found_in_dest(floe: FloeRunner, bad: BadFile) -> None:
    with tempfile.TemporaryDirectory() as name:
        dest = Path(name) / "dest"
        (dest / ".floe").mkdir(parents=True)
        (dest / ".floe/compiled_artifacts.json").write_bytes(bad.content)
        before = tree_snapshot(dest)
        result = floe("init", dest)
        assert result.exit_code == 1, (bad.label, result.stderr[:500])
        assert_clear_error(result.stderr, bad.expected_path)
        assert tree_snapshot(dest) == before
        assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*")) == [
            ".floe",
            ".floe/compiled_artifacts.json",
        ]


@pytest.mark.requirement("FR-001")
@pytest.mark.parametrize(
    ("label", "content", "path"),
    [
        ("not-utf8-in-a-value", b'{"version": "1.0.0\xff"}', None),
        ("wrong-type", _dump({**build_contract(), "transforms": 7}), "transforms"),
        ("unknown-key", _dump({**build_contract(), "extra": {"a": 1}}), "extra"),
        ("huge", _dump(build_contract(version="9" * 1_000_000)), "version"),
    ],
)
def test_init_with_a_new_destination_creates_nothing(
    floe: FloeRunner, tmp_path: Path, label: str, content: bytes, path: str | None
) -> None:
    source = tmp_path / "c.json"
    source.write_bytes(content)
    result = floe("init", tmp_path / "new" / "dest", "--artifacts", source)
    assert result.exit_code == 1, (label, result.stderr)
    assert_clear_error(result.stderr, path)
    assert not (tmp_path / "new").exists()


# --------------------------------------------------------------------------------------------
# Valid contracts: succeed or refuse cleanly; the contract survives init unchanged
# --------------------------------------------------------------------------------------------


#: Each branch a property below accepts must be taken at least this often (fixed examples).
MIN_PER_BRANCH = 3


@pytest.mark.requirement("FR-001")
def test_validate_accepts_or_refuses_random_valid_contracts_cleanly(floe: FloeRunner) -> None:
    outcomes: Counter[str] = Counter()

    @FAST
    @given(data=TAME_CONTRACTS)
    def check(data: dict[str, Any]) -> None:
        with tempfile.TemporaryDirectory() as name:
            source = Path(name) / "c.json"
            source.write_bytes(_dump(data))
            result = floe("validate", source)
            if result.exit_code == 0:
                outcomes["valid"] += 1
                assert result.stdout.startswith("valid\n")
                return
            outcomes["refused"] += 1
            assert result.exit_code == 1, result.stderr[:500]
            assert result.stderr.startswith("error: cannot build a dbt profile"), result.stderr[
                :500
            ]
            assert_refused_cleanly(result.stderr)

    check()
    assert outcomes["valid"] >= MIN_PER_BRANCH, outcomes
    assert outcomes["refused"] >= MIN_PER_BRANCH, outcomes


@pytest.mark.requirement("FR-001")
@pytest.mark.requirement("FR-005")
def test_profiles_writes_one_file_inside_the_project_or_nothing(floe: FloeRunner) -> None:
    outcomes: Counter[str] = Counter()

    @FAST
    @given(data=TAME_CONTRACTS)
    def check(data: dict[str, Any]) -> None:
        with tempfile.TemporaryDirectory() as name:
            root = Path(name)
            source = root / "c.json"
            source.write_bytes(_dump(data))
            project = root / "project"
            project.mkdir()
            result = floe("profiles", source, "--project-dir", project)
            if result.exit_code != 0:
                outcomes["refused"] += 1
                assert result.exit_code == 1, result.stderr[:500]
                assert_refused_cleanly(result.stderr)
                assert tree_snapshot(project) == {}
                return
            outcomes["written"] += 1
            files = tree_snapshot(project)
            (written,) = files
            assert Path(written).name == "profiles.yml"
            assert (project / written).resolve().is_relative_to(project.resolve())
            profile = yaml.safe_load(files[written])
            assert set(profile) == {"floe"}
            assert set(profile["floe"]) == {"target", "outputs"}
            assert set(tree_snapshot(root)) == {"c.json", f"project/{written}"}

    check()
    assert outcomes["written"] >= MIN_PER_BRANCH, outcomes
    assert outcomes["refused"] >= MIN_PER_BRANCH, outcomes


@pytest.mark.requirement("FR-001")
def test_init_keeps_a_random_valid_contract_unchanged(floe: FloeRunner) -> None:
    outcomes: Counter[str] = Counter()

    @RENDERING
    @given(data=TAME_CONTRACTS)
    def check(data: dict[str, Any]) -> None:
        assume(not collides(data))
        original = _dump(data)
        with tempfile.TemporaryDirectory() as name:
            root = Path(name)
            source = root / "c.json"
            source.write_bytes(original)
            dest = root / "proj"
            result = floe("init", dest, "--artifacts", source)
            if result.exit_code != 0:
                outcomes["refused"] += 1
                assert result.exit_code == 1, result.stderr[:2000]
                assert_refused_cleanly(result.stderr)
                assert not dest.exists()
                return
            outcomes["rendered"] += 1
            kept = (dest / ".floe/compiled_artifacts.json").read_bytes()
            assert kept == original
            model = CompiledArtifacts.model_validate(data)
            again = parse_artifacts(kept)
            assert again == model
            assert CompiledArtifacts.model_validate_json(again.model_dump_json()) == model
            assert again.model_dump_json() == model.model_dump_json()

    check()
    assert outcomes["rendered"] >= MIN_PER_BRANCH, outcomes


# --------------------------------------------------------------------------------------------
# A few random valid contracts render projects whose definitions load
# --------------------------------------------------------------------------------------------


@st.composite
def loadable_contracts(draw: st.DrawFn) -> dict[str, Any]:
    """Random valid contracts with a compute section a real adapter can parse offline."""
    data = draw(CONTRACTS)
    target = draw(st.sampled_from(TARGETS))
    data["compute"] = {
        "target": target,
        "connection_secret_ref": draw(st.none() | st.sampled_from(["wh-creds", "9lives"])),
        "properties": dict(TARGET_PROPERTIES[target]),
    }
    for transform in data["transforms"]:
        transform.pop("target", None)
    context = data.get("environment_context")
    if isinstance(context, dict):
        # The slugs name the Kubernetes code location (issue 14): init refuses anything but a
        # DNS-1123 label, with its own clear error (tested in tests/deploy); draw loadable ones.
        for slug in ("tenant_slug", "project_slug"):
            context[slug] = draw(st.from_regex(r"[a-z]([-a-z0-9]{0,10}[a-z0-9])?", fullmatch=True))
    assume(not collides(data))
    return data


@pytest.mark.slow
@pytest.mark.requirement("FR-006")
@LOADING
@given(data=loadable_contracts())
def test_random_valid_contracts_render_projects_whose_definitions_load(
    data: dict[str, Any],
) -> None:
    with tempfile.TemporaryDirectory() as name:
        root = Path(name)
        source = root / "c.json"
        source.write_bytes(_dump(data))
        dest = root / "proj"
        init_project(dest, artifacts=source, git=False)
        artifacts = parse_artifacts(source.read_bytes())
        profile = build_profile([Environment(default_environment_name(artifacts), artifacts)])
        env = {var.name: f"dummy-{var.key}" for _, var in profile.env_vars}
        done = run_in(dest, str(BIN / "dg"), "check", "defs", env=env)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert "All definitions loaded successfully" in done.stdout + done.stderr


# --------------------------------------------------------------------------------------------
# Error lines quote the user's names on one line, as written
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"compute": {"target": "duckdb", "properties": {"a\nforged.path: fake": 1}}},
        {"compute": {"target": "duckdb", "properties": {"x\x1b[2Jy": 1}}},
        {"compute": {"target": "duckdb", "properties": {"k:v:": 1}}},
        {"a\nforged.path: fake": 1},
    ],
    ids=["property-newline", "property-escape", "property-emoji", "field-newline"],
)
def test_error_lines_show_field_names_on_one_line_as_written(
    floe: FloeRunner, tmp_path: Path, overrides: dict[str, Any]
) -> None:
    source = tmp_path / "c.json"
    source.write_bytes(_dump(build_contract(**overrides)))
    result = floe("validate", source)
    assert result.exit_code == 1
    header, *lines = result.stderr.rstrip("\n").split("\n")
    assert header.endswith(": 1 error"), result.stderr
    (line,) = lines
    assert "\x1b" not in line
    assert "\u270c" not in line  # ✌, rich's emoji for :v:


# --------------------------------------------------------------------------------------------
# Adversarial paths and contracts (issue 18): no traceback, a documented exit code, at once
# --------------------------------------------------------------------------------------------

PATH_KINDS = ["fifo", "device", "directory", "missing", "long", "under-a-file", "loop", "file"]


def _oversized(draw: st.DrawFn) -> tuple[str, bool]:
    """The JSON text of a value inside or beyond the contract's limits, and whether beyond."""
    kind = draw(st.sampled_from(["int", "float", "string", "list", "object", "deep"]))
    size = draw(st.integers(min_value=0, max_value=3))
    return _value(kind, size, draw), size >= (1 if kind in {"int", "float"} else 2)


def _value(kind: str, size: int, draw: st.DrawFn) -> str:
    if kind == "int":
        return "-" * draw(st.booleans()) + "9" * [18, 19, 4301, 6000][size]
    if kind == "float":
        return ["1e308", "1e309", "0." + "5" * 45, "-1e400"][size]
    if kind == "string":
        return json.dumps("é" * [10, 65_536, 65_537, 200_000][size])
    if kind == "list":
        return json.dumps([0] * [1, 10_000, 10_001, 50_000][size])
    if kind == "object":
        return json.dumps({f"k{n}": n for n in range([1, 10_000, 10_001, 20_000][size])})
    depth = [3, 63, 65, 900][size]
    return "[" * depth + "]" * depth


@st.composite
def adversarial_inputs(draw: st.DrawFn) -> tuple[str, str, str, bool]:
    """(command, path kind, contract text, refused for sure): what floe may be handed."""
    command = draw(st.sampled_from(["validate", "profiles", "init", "update"]))
    kind = draw(st.sampled_from(PATH_KINDS))
    field = draw(st.sampled_from(["threads", "path", "host"]))
    where = draw(st.sampled_from(["property", "top"]))
    value, beyond = _oversized(draw)
    base = build_contract(compute={"target": "duckdb", "properties": {"threads": 4}})
    if where == "top":
        text = json.dumps(base)[:-1] + f', "{field}": {value}}}'
    else:
        text = json.dumps(base).replace('"threads": 4', f'"{field}": {value}')
    return command, kind, text, beyond or where == "top"


def _adversarial_path(root: Path, kind: str, text: str) -> Path:
    if kind == "fifo":
        os.mkfifo(root / "c.json")
    elif kind == "directory":
        (root / "c.json").mkdir()
    elif kind == "under-a-file":
        (root / "f").write_text("x", encoding="utf-8")
        return root / "f" / "c.json"
    elif kind == "loop":
        (root / "c.json").symlink_to(root / "c.json")
    elif kind == "long":
        return root / ("é" * 200) / "c.json"
    elif kind == "device":
        return Path("/dev/zero")
    elif kind == "file":
        (root / "c.json").write_text(text, encoding="utf-8")
    return root / "c.json"


def _expected_exit(command: str, kind: str, refused: bool) -> set[int]:
    """The documented exit codes for what floe was handed (``floe --help``: exit codes)."""
    if command == "update":  # DEST is the folder that holds the path: never a project
        # a name too long to look up, or a file where the folder should be: 2; else invalid: 1
        return {2} if kind in {"long", "under-a-file"} else {1}
    if kind != "file":  # missing, unreadable, or not a regular file (a directory, a FIFO, ...)
        return {2}
    # A contract beyond the limits is refused for sure; one within may still be invalid (a
    # field its target does not have): the message then says which (checked by the caller).
    return {1} if refused else {0, 1}


@FAST
@given(case=adversarial_inputs())
def test_adversarial_paths_and_contracts_get_a_worded_error_and_a_documented_code(
    floe: FloeRunner, case: tuple[str, str, str, bool]
) -> None:
    command, kind, text, refused = case
    with tempfile.TemporaryDirectory() as name:
        root = Path(name)
        path = _adversarial_path(root, kind, text)
        args: tuple[object, ...] = {
            "validate": ("validate", path),
            "profiles": ("profiles", path, "--out", root / "out"),
            # only contracts that are refused: a valid one would render a whole project
            "init": ("init", root / "dest", "--artifacts", path),
            "update": ("update", path.parent),
        }[command]
        if command == "init":
            assume(kind != "file" or refused)
        result = floe(*args)
        assert "Traceback" not in result.stdout + result.stderr
        assert result.exit_code in _expected_exit(command, kind, refused), result.stderr
        if result.exit_code != 0:
            # floe's `error:` line, or click's usage error (exit 2, documented)
            assert result.stderr.startswith("error: ") or "\nError: " in result.stderr
            assert len(result.stderr.splitlines()) <= 25, result.stderr
        if kind == "file" and command != "update":  # a contract: valid, or refused as such
            if result.exit_code == 1:  # the contract, or a property its profile cannot have
                assert result.stderr.startswith(
                    (f"error: invalid CompiledArtifacts in {path}", "error: cannot build a dbt")
                ), result.stderr
            elif command == "validate":
                assert result.stdout.startswith("valid"), result.stdout
            else:
                assert (root / "out" / "profiles.yml").is_file()
        if command == "init":
            assert result.exit_code != 0
            assert not (root / "dest").exists()
