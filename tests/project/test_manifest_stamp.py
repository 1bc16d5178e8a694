"""The record of what a manifest was parsed from (components/_manifest_stamp.py), and how every
load uses it (components/_manifest.py: ``ensure_manifest``), without dbt: ``dbt parse`` is
replaced by a fake that writes a manifest and counts its calls.

The real thing (the demo project, real dbt, the definitions loaded as its own tests load them)
is tests/project/test_stale_manifest.py.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from floe_scaffold.components import _manifest, _manifest_stamp
from floe_scaffold.components._manifest import ManifestError, ensure_manifest
from floe_scaffold.components._manifest_stamp import (
    STAMP,
    parse_settings,
    record,
    source_files,
    staleness,
    take_snapshot,
)

PROFILES = {
    "shop": {
        "target": "dev",
        "outputs": {
            "dev": {"type": "duckdb", "path": "w.duckdb", "schema": "main", "password": "a"},
            "prod": {"type": "duckdb", "path": "p.duckdb", "schema": "prod"},
        },
    },
    "other": {"target": "dev", "outputs": {"dev": {"type": "duckdb", "path": "o.duckdb"}}},
}
#: A moment well before the test: files "as they were at the last parse".
OLD_NS = time.time_ns() - 3_600 * 10**9


@pytest.fixture(autouse=True)
def _no_dev_or_dbt_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the generated project's pytest has: not a development command, no dbt overrides."""
    for name in ("DAGSTER_IS_DEV_CLI", "DBT_PROFILE", "DBT_TARGET"):
        monkeypatch.delenv(name, raising=False)


def _write(path: Path, text: str, *, old: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if old:
        os.utime(path, ns=(OLD_NS, OLD_NS))
    return path


def _project(root: Path) -> tuple[Path, Path]:
    """A dbt project (``root/dbt``) of a few files, all old, and its profiles folder."""
    dbt = root / "dbt"
    _write(dbt / "dbt_project.yml", "name: shop\nversion: '1.0'\nprofile: shop\n")
    _write(dbt / "models" / "orders.sql", "select 1 as id\n")
    _write(dbt / "models" / "_models.yml", "version: 2\nmodels:\n  - name: orders\n")
    _write(dbt / "seeds" / "raw.csv", "id\n1\n")
    _write(dbt / "macros" / "m.sql", "{% macro m() %}1{% endmacro %}\n")
    profiles = root / "profiles"
    _write(profiles / "profiles.yml", yaml.safe_dump(PROFILES))
    return dbt, profiles


def _settings(dbt: Path, profiles: Path, target: str | None = None) -> dict[str, str]:
    return parse_settings(dbt, profiles, target, None)


def _parsed(dbt: Path, profiles: Path, content: str = '{"nodes": {}}') -> Path:
    """As floe parses: the files taken before, a manifest written, the record beside it."""
    before = take_snapshot(dbt)
    manifest = _write(dbt / "target" / "manifest.json", content, old=False)
    assert record(dbt / "target" / STAMP, manifest, before, _settings(dbt, profiles))
    return manifest


def _recorded(dbt: Path) -> dict[str, Any]:
    """The record: its header's fields, and ``files`` (the table of the second line)."""
    header, files = (dbt / "target" / STAMP).read_text(encoding="utf-8").splitlines()
    return {**json.loads(header), "files": json.loads(files)}


def _stale(dbt: Path, profiles: Path, manifest: Path, target: str | None = None) -> str | None:
    return staleness(dbt, manifest, _settings(dbt, profiles, target))


# ---------------------------------------------------------------------------- the record


def test_a_manifest_just_parsed_is_current(tmp_path: Path) -> None:
    dbt, profiles = _project(tmp_path)
    manifest = _parsed(dbt, profiles)
    assert _stale(dbt, profiles, manifest) is None
    recorded = _recorded(dbt)
    assert sorted(recorded["files"]) == [
        "dbt_project.yml",
        "macros/m.sql",
        "models/_models.yml",
        "models/orders.sql",
        "seeds/raw.csv",
    ]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: _write(d / "models" / "new.sql", "select 2\n"), "models/new.sql was added"),
        (lambda d: (d / "models" / "orders.sql").unlink(), "models/orders.sql was removed"),
        (
            lambda d: (d / "models" / "orders.sql").rename(d / "models" / "fct_orders.sql"),
            "models/fct_orders.sql was added",
        ),
        (
            lambda d: _write(d / "models" / "orders.sql", "select 1 as id, 2 as b\n"),
            "models/orders.sql was changed",
        ),
        # The same size, another time: hashed, and found changed.
        (
            lambda d: _write(d / "models" / "orders.sql", "select 7 as id\n", old=False),
            "models/orders.sql was changed",
        ),
        (
            lambda d: _write(
                d / "dbt_project.yml", "name: shop\nversion: '2.0'\nprofile: shop\n", old=False
            ),
            "dbt_project.yml was changed",
        ),
        (lambda d: _write(d / "seeds" / "raw.csv", "id\n1\n2\n"), "seeds/raw.csv was changed"),
        (
            lambda d: _write(d / "macros" / "m.sql", "{% macro m() %}2{% endmacro %}\n", old=False),
            "macros/m.sql was changed",
        ),
        (lambda d: _write(d / "packages.yml", "packages: []\n"), "packages.yml was added"),
        (lambda d: _write(d / "selectors.yml", "selectors: []\n"), "selectors.yml was added"),
        (lambda d: _write(d / "snapshots" / "s.sql", "{% snapshot s %}{% endsnapshot %}"), "s.sql"),
    ],
)
def test_a_source_file_added_removed_renamed_or_changed_makes_it_stale(
    tmp_path: Path, change: object, reason: str
) -> None:
    dbt, profiles = _project(tmp_path)
    manifest = _parsed(dbt, profiles)
    change(dbt)  # type: ignore[operator]
    found = _stale(dbt, profiles, manifest)
    assert found is not None and reason in found
    assert str(dbt) in found, "the file is named by its full path"


def test_several_changes_are_counted_and_the_first_named(tmp_path: Path) -> None:
    dbt, profiles = _project(tmp_path)
    manifest = _parsed(dbt, profiles)
    for name in ("b.sql", "a.sql", "c.sql"):
        _write(dbt / "models" / name, "select 1\n")
    assert _stale(dbt, profiles, manifest) == (
        f"{dbt}/models/a.sql and 2 other files were added since it was parsed"
    )


def test_files_dbt_does_not_read_or_writes_itself_do_not_count(tmp_path: Path) -> None:
    dbt, profiles = _project(tmp_path)
    _write(
        dbt / "dbt_project.yml",
        "name: shop\nversion: '1.0'\nprofile: shop\ntarget-path: out\nlog-path: var/log\n",
    )
    manifest = _write(dbt / "target" / "manifest.json", "{}", old=False)
    assert record(dbt / "target" / STAMP, manifest, take_snapshot(dbt), _settings(dbt, profiles))
    for written in (
        "warehouse.duckdb",
        "data/warehouse.duckdb.wal",
        "logs/dbt.log",
        "target/run/x.sql",  # a run's compiled SQL
        "out/compiled/y.sql",
        "var/log/z.json",
        "dbt_packages/dbt_utils/macros/u.sql",
        ".git/config.yml",
        "models/.hidden.sql.swp",
        "models/__pycache__/m.py",
        "models/notes.txt",
    ):
        _write(dbt / written, "x\n", old=False)
    assert _stale(dbt, profiles, manifest) is None


def test_a_folder_named_like_dbts_own_counts_below_the_project_root(tmp_path: Path) -> None:
    dbt, profiles = _project(tmp_path)
    manifest = _parsed(dbt, profiles)
    _write(dbt / "models" / "logs" / "stg_logs.sql", "select 1\n")
    found = _stale(dbt, profiles, manifest)
    assert found is not None and "models/logs/stg_logs.sql was added" in found


def test_a_symlink_loop_is_walked_once(tmp_path: Path) -> None:
    dbt, _ = _project(tmp_path)
    (dbt / "models" / "loop").symlink_to(dbt / "models")
    _write(dbt / "common" / "s.sql", "select 1\n")
    (dbt / "models" / "common").symlink_to(dbt / "common")
    names = [name for name, _, _ in source_files(dbt)]
    assert "models/common/s.sql" in names or "common/s.sql" in names
    assert len(names) == len(set(names)) and not any("loop/loop" in name for name in names)


# ---------------------------------------------------------------------------- times and copies


def test_the_same_bytes_under_another_time_are_current_and_recorded_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkout, a copy or an image layer changes times, not content: hashed once, then the
    record holds the new times and the next load only stats."""
    dbt, profiles = _project(tmp_path)
    manifest = _parsed(dbt, profiles)
    later = OLD_NS + 10**9
    for path in dbt.rglob("*.sql"):
        os.utime(path, ns=(later, later))
    hashed: list[Path] = []
    original = _manifest_stamp._sha256

    def counting(path: Path) -> str | None:
        hashed.append(path)
        return original(path)

    monkeypatch.setattr(_manifest_stamp, "_sha256", counting)
    assert _stale(dbt, profiles, manifest) is None
    assert sorted(p.name for p in hashed) == ["m.sql", "orders.sql"]
    hashed.clear()
    assert _stale(dbt, profiles, manifest) is None
    assert hashed == [], "the record was refreshed: a stat walk again"


def test_a_file_changed_just_before_the_parse_is_always_hashed(tmp_path: Path) -> None:
    """A coarse clock could give an edit right after the parse the recorded time; such a file
    gets no time in the record until a later load sees it settled."""
    dbt, profiles = _project(tmp_path)
    _write(dbt / "models" / "orders.sql", "select 1 as id\n", old=False)  # edited just now
    manifest = _parsed(dbt, profiles)
    recorded = _recorded(dbt)
    assert recorded["files"]["models/orders.sql"][1] == -1
    assert recorded["files"]["models/_models.yml"][1] == OLD_NS
    # Edited again within the same tick, same size, same time: the hash still sees it.
    stat = (dbt / "models" / "orders.sql").stat()
    _write(dbt / "models" / "orders.sql", "select 2 as id\n", old=False)
    os.utime(dbt / "models" / "orders.sql", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    found = _stale(dbt, profiles, manifest)
    assert found is not None and "models/orders.sql was changed" in found


def test_a_project_copied_elsewhere_keeps_its_manifest(tmp_path: Path) -> None:
    dbt, profiles = _project(tmp_path / "a")
    _parsed(dbt, profiles)
    shutil.copytree(tmp_path / "a", tmp_path / "b")  # times kept, paths changed
    moved = tmp_path / "b" / "dbt"
    assert _stale(moved, tmp_path / "b" / "profiles", moved / "target" / "manifest.json") is None


def test_a_copy_that_loses_every_time_is_current_by_content(tmp_path: Path) -> None:
    dbt, profiles = _project(tmp_path / "a")
    _parsed(dbt, profiles)
    shutil.copytree(tmp_path / "a", tmp_path / "b", copy_function=shutil.copyfile)
    moved = tmp_path / "b" / "dbt"
    manifest = moved / "target" / "manifest.json"
    assert _stale(moved, tmp_path / "b" / "profiles", manifest) is None
    recorded = _recorded(moved)
    assert recorded["manifest"]["mtime_ns"] == manifest.stat().st_mtime_ns, "recorded again"


# ---------------------------------------------------------------------------- settings


def test_the_target_or_its_output_changing_makes_it_stale_other_profiles_do_not(
    tmp_path: Path,
) -> None:
    dbt, profiles = _project(tmp_path)
    manifest = _parsed(dbt, profiles)
    assert _stale(dbt, profiles, manifest, target="dev") is None, "dev is the default target"
    found = _stale(dbt, profiles, manifest, target="prod")
    assert found == "the dbt target is now 'prod', not 'dev'"

    changed = json.loads(json.dumps(PROFILES))
    changed["shop"]["outputs"]["dev"]["password"] = "another"
    changed["shop"]["outputs"]["prod"]["schema"] = "elsewhere"
    changed["other"]["outputs"]["dev"]["path"] = "x.duckdb"
    _write(profiles / "profiles.yml", yaml.safe_dump(changed), old=False)
    assert _stale(dbt, profiles, manifest) is None, "a password, another target or profile"

    changed["shop"]["outputs"]["dev"]["schema"] = "analytics"
    _write(profiles / "profiles.yml", yaml.safe_dump(changed), old=False)
    found = _stale(dbt, profiles, manifest)
    assert found is not None and "target 'dev' of profile 'shop'" in found
    assert str(profiles / "profiles.yml") in found


def test_no_secret_is_recorded(tmp_path: Path) -> None:
    """Keys that name a credential are left out of the digest: changing one changes nothing,
    and the record holds nothing derived from it."""
    dbt, profiles = _project(tmp_path)
    output = {"type": "postgres", "schema": "s", "password": "hunter2", "token": "t0k"}
    _write(profiles / "profiles.yml", yaml.safe_dump({"shop": {"outputs": {"dev": output}}}))
    with_secrets = parse_settings(dbt, profiles, "dev", None)
    output = {"type": "postgres", "schema": "s"}
    _write(profiles / "profiles.yml", yaml.safe_dump({"shop": {"outputs": {"dev": output}}}))
    assert parse_settings(dbt, profiles, "dev", None) == with_secrets


def test_dbt_profile_and_target_variables_count_as_dbt_reads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dbt, profiles = _project(tmp_path)
    manifest = _parsed(dbt, profiles)
    monkeypatch.setenv("DBT_TARGET", "prod")
    assert _stale(dbt, profiles, manifest) == "the dbt target is now 'prod', not 'dev'"
    monkeypatch.delenv("DBT_TARGET")
    monkeypatch.setenv("DBT_PROFILE", "other")
    assert _stale(dbt, profiles, manifest) == "the dbt profile is now 'other', not 'shop'"


# ---------------------------------------------------------------------------- someone else's


def test_a_manifest_floe_did_not_parse_newer_than_every_file_is_adopted(tmp_path: Path) -> None:
    """The user's own `dbt parse` or `dbt build`, or CI's: dbt parses the whole project whenever
    it writes manifest.json, so one written after every file changed was parsed from them."""
    dbt, profiles = _project(tmp_path)
    manifest = _write(dbt / "target" / "manifest.json", '{"by": "dbt"}', old=False)
    assert _stale(dbt, profiles, manifest) is None
    recorded = _recorded(dbt)
    assert "models/orders.sql" in recorded["files"], "adopted: recorded as if floe parsed it"
    _write(dbt / "models" / "orders.sql", "select 22 as id\n", old=True)  # an older time...
    found = _stale(dbt, profiles, manifest)
    assert found is not None and "models/orders.sql was changed" in found, "...still found"


def test_a_manifest_floe_did_not_parse_older_than_a_file_is_stale(tmp_path: Path) -> None:
    """A project updated (floe update, git pull) after its last parse by plain dbt or an older
    floe-scaffold, which wrote a bare digest: the manifest is not trusted."""
    dbt, profiles = _project(tmp_path)
    manifest = _write(dbt / "target" / "manifest.json", "{}")
    os.utime(manifest, ns=(OLD_NS + 10**9, OLD_NS + 10**9))  # parsed after the files above
    _write(dbt / "target" / STAMP, "46c9788e9afc9b4a88c9b858c1bc667639", old=False)
    _write(dbt / "models" / "daily_orders.sql", "select 1\n", old=False)
    found = _stale(dbt, profiles, manifest)
    assert found is not None
    assert found.startswith(f"{dbt}/models/daily_orders.sql was modified after it was written")
    assert "not parsed by floe" in found


def test_a_manifest_rewritten_by_dbt_after_floes_parse_is_judged_by_its_time(
    tmp_path: Path,
) -> None:
    dbt, profiles = _project(tmp_path)
    manifest = _parsed(dbt, profiles)
    _write(dbt / "models" / "new.sql", "select 1\n")  # old time, but after floe's parse
    time.sleep(0.01)
    _write(manifest, '{"nodes": {"model.shop.new": {}}}', old=False)  # `dbt build` re-parsed
    assert _stale(dbt, profiles, manifest) is None
    recorded = _recorded(dbt)
    assert "models/new.sql" in recorded["files"], "the record now describes dbt's manifest"


# ---------------------------------------------------------------------------- ensure_manifest


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Path]]:
    """``dbt parse`` replaced: each call writes a manifest of the project's models, counted."""
    calls: list[Path] = []

    def fake_parse(command: list[str], project_dir: Path, manifest: Path) -> None:
        del command
        calls.append(project_dir)
        models = sorted(p.stem for p in (project_dir / "models").glob("*.sql"))
        manifest.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_text(json.dumps({"models": models, "parse": len(calls)}), encoding="utf-8")

    monkeypatch.setattr(_manifest, "_parse", fake_parse)
    yield calls


def _models(manifest: Path) -> list[str]:
    return list(json.loads(manifest.read_text(encoding="utf-8"))["models"])


def test_auto_parses_a_stale_manifest_outside_development_too(
    tmp_path: Path, parses: list[Path]
) -> None:
    """Under pytest (no DAGSTER_IS_DEV_CLI) a stale manifest was used as it was: dagster-dbt
    then met the new model in dbt's events, KeyError. Now every load parses it again."""
    dbt, profiles = _project(tmp_path)
    manifest = ensure_manifest(dbt, profiles, target=None, profile=None)
    assert len(parses) == 1 and _models(manifest) == ["orders"]
    ensure_manifest(dbt, profiles, target=None, profile=None)
    assert len(parses) == 1, "nothing changed: no parse"
    _write(dbt / "models" / "daily_orders.sql", "select 1\n", old=False)
    ensure_manifest(dbt, profiles, target=None, profile=None)
    assert len(parses) == 2 and _models(manifest) == ["daily_orders", "orders"]
    ensure_manifest(dbt, profiles, target=None, profile=None)
    assert len(parses) == 2


def test_always_parses_every_load_and_records(tmp_path: Path, parses: list[Path]) -> None:
    dbt, profiles = _project(tmp_path)
    for _ in range(2):
        ensure_manifest(dbt, profiles, target=None, profile=None, mode="always")
    assert len(parses) == 2
    assert (dbt / "target" / STAMP).is_file()


def test_never_refuses_a_stale_manifest_in_one_line_naming_the_file_and_the_command(
    tmp_path: Path, parses: list[Path]
) -> None:
    dbt, profiles = _project(tmp_path)
    manifest = ensure_manifest(dbt, profiles, target=None, profile=None)
    assert ensure_manifest(dbt, profiles, target=None, profile=None, mode="never") == manifest
    _write(dbt / "models" / "daily_orders.sql", "select 1\n", old=False)
    with pytest.raises(ManifestError) as raised:
        ensure_manifest(dbt, profiles, target=None, profile=None, mode="never")
    error = raised.value
    assert error.output is None and "\n" not in str(error), "one line"
    assert str(error).startswith(f"the dbt manifest {manifest} is out of date (")
    assert f"{dbt}/models/daily_orders.sql was added since it was parsed" in str(error)
    assert f"parse --project-dir {dbt} --profiles-dir {profiles}`" in str(error)
    assert "prepare: auto" in str(error)
    assert len(parses) == 1, "never parses"


def test_never_takes_a_manifest_made_by_dbt_after_the_last_change(
    tmp_path: Path, parses: list[Path]
) -> None:
    """The image or CI made it with plain `dbt parse`: newer than every file, it is used."""
    dbt, profiles = _project(tmp_path)
    manifest = _write(dbt / "target" / "manifest.json", '{"models": ["orders"]}', old=False)
    assert ensure_manifest(dbt, profiles, target=None, profile=None, mode="never") == manifest
    assert parses == []


@pytest.mark.usefixtures("parses")
def test_a_failed_parse_leaves_the_manifest_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No record is written for a parse that failed: the next load tries again, and does not
    take the old manifest for the changed project."""
    dbt, profiles = _project(tmp_path)
    ensure_manifest(dbt, profiles, target=None, profile=None)
    _write(dbt / "models" / "broken.sql", "select {{ oops(\n", old=False)

    def failing(*_: object) -> None:
        raise ManifestError("dbt parse failed")

    monkeypatch.setattr(_manifest, "_parse", failing)
    for _ in range(2):
        with pytest.raises(ManifestError, match="dbt parse failed"):
            ensure_manifest(dbt, profiles, target=None, profile=None)


def test_a_file_edited_while_dbt_parses_is_seen_next_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dbt, profiles = _project(tmp_path)

    def parse_then_edit(_: list[str], project_dir: Path, manifest: Path) -> None:
        manifest.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_text("{}", encoding="utf-8")
        _write(project_dir / "models" / "orders.sql", "select 9 as id\n", old=False)

    monkeypatch.setattr(_manifest, "_parse", parse_then_edit)
    manifest = ensure_manifest(dbt, profiles, target=None, profile=None)
    found = _stale(dbt, profiles, manifest)
    assert found is not None and "models/orders.sql was changed" in found


# ---------------------------------------------------------------------------- cost


@pytest.mark.parametrize("files", [1_200])
def test_a_load_checks_a_large_project_in_milliseconds(tmp_path: Path, files: int) -> None:
    """The check every load pays: a stat per file, no hash (measured; the README quotes it)."""
    dbt, profiles = _project(tmp_path)
    for index in range(files):
        folder = dbt / "models" / f"domain{index % 20}"
        _write(folder / f"model_{index}.sql", f"select {index} as id\n")
        if index % 10 == 0:
            _write(folder / f"_models_{index}.yml", "version: 2\nmodels: []\n")
    manifest = _parsed(dbt, profiles)
    settings = _settings(dbt, profiles)
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        assert staleness(dbt, manifest, settings) is None
        timings.append(time.perf_counter() - started)
    best = min(timings)
    print(f"\nstaleness check, {len(list(source_files(dbt)))} files: {best * 1000:.1f} ms")
    assert best < 0.5, "a few ms on a laptop; generous for a loaded CI machine"


def test_two_loads_at_once_parse_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A code server and `dg` starting together: the second waits for the first's parse and
    takes its manifest, instead of parsing beside it into the same target/."""
    dbt, profiles = _project(tmp_path)
    calls: list[int] = []

    def slow_parse(_: list[str], project_dir: Path, manifest: Path) -> None:
        del project_dir
        calls.append(1)
        time.sleep(0.5)
        manifest.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_text("{}", encoding="utf-8")

    monkeypatch.setattr(_manifest, "_parse", slow_parse)
    with ThreadPoolExecutor(2) as pool:
        done = list(
            pool.map(lambda _: ensure_manifest(dbt, profiles, target=None, profile=None), [1, 2])
        )
    assert done[0] == done[1] and len(calls) == 1


def test_a_record_that_cannot_be_written_costs_a_judgement_not_a_parse(
    tmp_path: Path, parses: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An image's files copied with new times into a read-only target/: each load hashes, none
    parses (the manifest made at build time is the one used)."""
    dbt, profiles = _project(tmp_path / "build")
    ensure_manifest(dbt, profiles, target=None, profile=None)
    shutil.copytree(tmp_path / "build", tmp_path / "pod", copy_function=shutil.copyfile)
    monkeypatch.setattr(_manifest_stamp, "record", lambda *_, **__: False)
    pod = tmp_path / "pod" / "dbt"
    for _ in range(2):
        ensure_manifest(pod, tmp_path / "pod" / "profiles", target=None, profile=None)
    assert len(parses) == 1


@pytest.mark.parametrize(
    "content", ["", "not json\n{}", '{"format": "floe-manifest-fingerprint/2"}']
)
def test_a_damaged_record_is_no_record(tmp_path: Path, content: str) -> None:
    dbt, profiles = _project(tmp_path)
    manifest = _parsed(dbt, profiles)
    (dbt / "target" / STAMP).write_text(content, encoding="utf-8")
    assert _stale(dbt, profiles, manifest) is None, "newer than every file: adopted again"
    assert _recorded(dbt)["files"], "and recorded"
    _write(dbt / "models" / "orders.sql", "select 1 as id, 2 as more\n", old=False)
    (dbt / "target" / STAMP).write_text(content, encoding="utf-8")
    found = _stale(dbt, profiles, manifest)
    assert found is not None and "models/orders.sql was modified after it was written" in found


def test_the_listing_digest_spares_reading_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dbt, profiles = _project(tmp_path)
    manifest = _parsed(dbt, profiles)
    assert _recorded(dbt)["listing"] is not None, "no file changed within 2 s of the parse"
    monkeypatch.setattr(_manifest_stamp, "_table", lambda _: pytest.fail("table read"))
    assert _stale(dbt, profiles, manifest) is None
