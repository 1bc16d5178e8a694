"""Whether ``target/manifest.json`` still describes its dbt project: a record kept beside it.

When floe parses the project (``_manifest.ensure_manifest``) it writes
``target/floe_manifest.fingerprint``, a JSON record of what the manifest was parsed from:

* **the project's source files**: every file under the dbt project folder whose suffix is one dbt
  reads when it parses (models, macros, seeds, snapshots, analyses, tests, docs, every ``.yml``:
  ``dbt_project.yml``, ``packages.yml``, ``package-lock.yml``, ``selectors.yml`` ...), less the
  folders dbt writes or installs into (``target/``, ``logs/``, ``dbt_packages/``, or where
  ``dbt_project.yml`` moves them) and hidden folders: each with its size, modification time and
  SHA-256, all taken *before* dbt ran, so a file edited during the parse is seen as changed;
* **the settings it was parsed with**: the profile and target dbt uses (the component's, else
  ``DBT_PROFILE``/``DBT_TARGET``, else the project's and the profile's defaults), and a digest of
  that target's output in ``profiles.yml`` as written (``env_var`` calls unrendered; keys that
  name a secret left out). Other profiles and targets of the same file do not count;
* **the manifest itself** (size, modification time, SHA-256): the record vouches for that
  manifest only.

**Every load compares** (``staleness``), whatever the process: one ``stat`` per source file,
and a digest of the paths, sizes and times compared with the one in the record's first line, so
an unchanged project costs no more (the table of files is read only when the digests differ). A
file whose size and time are the recorded ones is unchanged; one of the same size but another
time (a checkout, a copy, an image layer, ``touch``) is hashed and compared, and when every such
file still holds its recorded bytes the record is rewritten with the new times, so the next
load is a ``stat`` walk again. A file recorded within two seconds of the parse gets no time (a
file system with coarse times could not tell a later edit in the same tick): it is hashed until
a later load records its time. A file added, removed or changed, or other settings, make the
manifest stale, and the reason names the first such file.

**A manifest the record does not describe** (no record, a record of another manifest, or the
bare digest older releases wrote) was made by someone else: the user's own ``dbt parse`` or
``dbt build``, CI, or an older floe-scaffold. Decision: it is current when it is newer than
every source file of the project, as ``make`` decides (dbt parses the whole project whenever it
writes ``manifest.json``, so a manifest written after the last change of every file was parsed
from those files), and is then adopted: the record is written for it, so that from then on a
change is found exactly. A source file as new as the manifest, or newer, makes it stale: a
project updated (``floe update``, ``git pull``) after its last parse is re-parsed, not trusted.
A manifest restored with an old time (a CI cache) is then re-parsed once too, which is safe.
Its settings cannot be known, so they are taken to be the current ones.

Not seen, as dbt's own partial parse would see them: environment variables read by
``env_var()`` in the project or the profile, and files outside the dbt project folder (a
``local:`` package's own folder; its installed copy counts through ``package-lock.yml``).

Cost (2 cores, load average 5): a load spends about 5 ms here at 1,100 files, 27 ms at 5,500,
0.1 s at 22,000 (``test_manifest_stamp.py`` checks the first); the hashing is paid when floe
parses (0.7 s at 22,000 files) and once after a copy that changed every time.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import stat
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from floe_scaffold._bounded import read_config_text

__all__ = [
    "SOURCE_SUFFIXES",
    "STAMP",
    "Snapshot",
    "parse_settings",
    "record",
    "source_files",
    "staleness",
    "take_snapshot",
]

#: The record's file, in the dbt project's ``target/`` beside the manifest.
STAMP = "floe_manifest.fingerprint"
#: The record's format; a record of another format (the bare digest of older releases too) is
#: no record: the manifest is judged as someone else's.
FORMAT = "floe-manifest-fingerprint/2"
#: The suffixes of the files dbt reads when it parses; anything else (a DuckDB file written by
#: every run, logs) must not make the manifest look stale.
SOURCE_SUFFIXES = frozenset(
    {".sql", ".py", ".yml", ".yaml", ".csv", ".md", ".jinja", ".jinja2", ".json"}
)
#: Folders of the project root dbt writes or installs into (unless dbt_project.yml moves them).
_WRITTEN_DIRS = ("target", "logs", "dbt_packages", "dbt_internal_packages")
_PATH_KEYS = ("target-path", "log-path", "packages-install-path")
#: Folders skipped at any depth (hidden ones too).
_SKIPPED_ANYWHERE = frozenset({"__pycache__", "node_modules"})
#: A file modified this close to the snapshot could change again within its time's tick.
_RACY_NS = 2_000_000_000
_NO_TIME = -1
#: Keys of a profile output that hold a credential: never part of the record, not even hashed.
_SECRET = re.compile(r"pass|secret|token|private|credential|keyfile_json|api_key", re.IGNORECASE)
_CHUNK = 1 << 20


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(read_config_text(path))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None


def _written_dirs(project: Any) -> frozenset[str]:
    """The project-relative folders dbt writes into: the defaults and where the project says."""
    written = set(_WRITTEN_DIRS)
    if isinstance(project, dict):
        for key in _PATH_KEYS:
            value = project.get(key)
            if isinstance(value, str) and "{{" not in value and not Path(value).is_absolute():
                written.add(Path(os.path.normpath(value)).as_posix())
    return frozenset(written)


def source_files(project_dir: Path) -> Iterator[tuple[str, int, int]]:
    """``(path, size, mtime_ns)`` of each source file; the path relative, with ``/``.

    Symbolic links are followed (as dbt follows them), each folder entered once. The order is
    the file system's: sort for a stable one.
    """
    skipped = _written_dirs(_load_yaml(project_dir / "dbt_project.yml"))
    entered: set[tuple[int, int]] = set()
    stack = [("", str(project_dir))]
    while stack:
        prefix, folder = stack.pop()
        try:
            folder_stat = Path(folder).stat()
            if (folder_stat.st_dev, folder_stat.st_ino) in entered:
                continue
            entered.add((folder_stat.st_dev, folder_stat.st_ino))
            with os.scandir(folder) as entries:
                listed = list(entries)
        except OSError:
            continue  # removed meanwhile, or unreadable: dbt cannot read it either
        for entry in listed:
            name = entry.name
            try:
                if (dot := name.rfind(".")) > 0 and name[dot:].lower() in SOURCE_SUFFIXES:
                    found = entry.stat()  # the one system call per file of a load
                    if stat.S_ISREG(found.st_mode):
                        yield prefix + name, found.st_size, found.st_mtime_ns
                        continue
                if entry.is_dir() and not name.startswith("."):
                    relative = prefix + name
                    if name not in _SKIPPED_ANYWHERE and relative not in skipped:
                        stack.append((relative + "/", entry.path))
            except OSError:
                continue  # a broken link, or a file removed meanwhile


def listing_digest(files: list[tuple[str, int, int]]) -> str:
    """A SHA-256 of the files' paths, sizes and times, in path order."""
    text = "".join(f"{name}\0{size}\0{mtime}\n" for name, size, mtime in sorted(files))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def _sha256(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


# ---------------------------------------------------------------------------- settings


def parse_settings(
    project_dir: Path, profiles_dir: Path, target: str | None, profile: str | None
) -> dict[str, str]:
    """What the manifest depends on outside the project's files.

    The profile and target dbt uses, and a digest of that target's output in ``profiles.yml``
    (secrets left out), with the file's path (to name it; not compared).
    """
    project = _load_yaml(project_dir / "dbt_project.yml")
    default_profile = project.get("profile") if isinstance(project, dict) else None
    name = profile or os.environ.get("DBT_PROFILE") or default_profile
    name = name if isinstance(name, str) else ""
    profiles_file = profiles_dir / "profiles.yml"
    profiles = _load_yaml(profiles_file)
    entry = profiles.get(name) if isinstance(profiles, dict) else None
    default_target = entry.get("target") if isinstance(entry, dict) else None
    chosen = target or os.environ.get("DBT_TARGET") or default_target
    chosen = chosen if isinstance(chosen, str) else ""
    outputs = entry.get("outputs") if isinstance(entry, dict) else None
    output = outputs.get(chosen) if isinstance(outputs, dict) else None
    if isinstance(output, dict):
        kept = {str(k): v for k, v in output.items() if not _SECRET.search(str(k))}
        written = json.dumps(kept, sort_keys=True, default=str)
    else:
        written = "(none)"  # dbt parse fails on it; a profile written later changes this
    return {
        "profiles_file": str(profiles_file),
        "profile": name,
        "target": chosen,
        "output": hashlib.sha256(written.encode()).hexdigest(),
    }


def _settings_change(recorded: Mapping[str, Any], current: Mapping[str, str]) -> str | None:
    """What changed in the settings, or None.

    The profiles file's path is not compared: a project moved elsewhere parses the same.
    """
    if all(recorded.get(key) == current[key] for key in ("profile", "target", "output")):
        return None
    if recorded.get("profile") != current["profile"]:
        return f"the dbt profile is now {current['profile']!r}, not {recorded.get('profile')!r}"
    if recorded.get("target") != current["target"]:
        return f"the dbt target is now {current['target']!r}, not {recorded.get('target')!r}"
    return (
        f"the output of target {current['target']!r} of profile {current['profile']!r} in "
        f"{current['profiles_file']} changed"
    )


# ---------------------------------------------------------------------------- the record


@dataclass(frozen=True)
class Snapshot:
    """The project's source files at one moment: path -> ``[size, mtime_ns, sha256]``.

    ``mtime_ns`` is -1 for a file changed within two seconds of ``taken_ns`` (hashed on every
    check until a later one records its time); ``newest`` is the newest time and its file.
    """

    files: dict[str, list[Any]]
    taken_ns: int
    newest: tuple[int, str] = (0, "")


def take_snapshot(project_dir: Path) -> Snapshot:
    """Every source file's size, time and SHA-256, now (before dbt parses)."""
    taken = time.time_ns()
    files: dict[str, list[Any]] = {}
    newest = (0, "")
    for relative, size, mtime in source_files(project_dir):
        digest = _sha256(project_dir / relative)
        if digest is not None:
            files[relative] = [size, _recordable(mtime, taken), digest]
            newest = max(newest, (mtime, relative))
    return Snapshot(files, taken, newest)


def _recordable(mtime_ns: int, taken_ns: int) -> int:
    """The time to record: none for a file changed within the tick of the snapshot."""
    return _NO_TIME if mtime_ns >= taken_ns - _RACY_NS else mtime_ns


def _manifest_entry(manifest: Path, digest: str | None = None) -> dict[str, Any] | None:
    try:
        found = manifest.stat()
    except OSError:
        return None
    digest = digest or _sha256(manifest)
    if digest is None:
        return None
    return {"size": found.st_size, "mtime_ns": found.st_mtime_ns, "sha256": digest}


def record(
    stamp: Path,
    manifest: Path,
    snapshot: Snapshot,
    settings: Mapping[str, str],
    *,
    manifest_sha256: str | None = None,
) -> bool:
    """Write the record of ``manifest``; False when it cannot be written.

    Two lines of JSON: a header (the format, the manifest, the settings, and a digest of the
    files' paths, sizes and times, which is all a load reads when nothing changed), then the
    table of the files. A read-only folder (an image's) only means the next load judges the
    manifest by its time.
    """
    entry = _manifest_entry(manifest, manifest_sha256)
    if entry is None:
        return False
    files = dict(sorted(snapshot.files.items()))
    timed = all(values[1] != _NO_TIME for values in files.values())
    header = {
        "format": FORMAT,
        "manifest": entry,
        "settings": dict(settings),
        "listing": listing_digest([(k, v[0], v[1]) for k, v in files.items()]) if timed else None,
    }
    text = json.dumps(header) + "\n" + json.dumps(files, separators=(",", ":")) + "\n"
    temporary = stamp.with_name(f".{stamp.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(stamp)  # readers see the old record or the new one, never a part
    except OSError:
        temporary.unlink(missing_ok=True)
        return False
    return True


def _read(stamp: Path) -> tuple[dict[str, Any], bytes] | None:
    """The record's header, and the bytes of its table (parsed only when needed)."""
    try:
        header_line, _, table = stamp.read_bytes().partition(b"\n")
        header = json.loads(header_line)
    except (OSError, ValueError):
        return None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        return None
    if not (isinstance(header.get("manifest"), dict) and isinstance(header.get("settings"), dict)):
        return None
    return header, table


def _table(raw: bytes) -> dict[str, Any] | None:
    try:
        files = json.loads(raw)
    except ValueError:
        return None
    return files if isinstance(files, dict) else None


def _describes(entry: Mapping[str, Any], manifest: Path) -> tuple[bool, str | None]:
    """Whether the recorded manifest is this one; and its SHA-256 if it had to be hashed."""
    try:
        found = manifest.stat()
    except OSError:
        return False, None
    if found.st_size != entry.get("size"):
        return False, None
    if found.st_mtime_ns == entry.get("mtime_ns"):
        return True, None
    digest = _sha256(manifest)  # a copy with other times: the same bytes are the same manifest
    return digest == entry.get("sha256"), digest


def _listed(project_dir: Path, names: list[str], what: str) -> str:
    """``dir/a.sql was added``, or ``dir/a.sql and 2 other files were added``."""
    first = project_dir / sorted(names)[0]
    if len(names) == 1:
        return f"{first} was {what}"
    other = "file" if len(names) == 2 else "files"
    return f"{first} and {len(names) - 1} other {other} were {what}"


# ---------------------------------------------------------------------------- the judgement


def staleness(project_dir: Path, manifest: Path, settings: Mapping[str, str]) -> str | None:
    """Why ``manifest`` no longer describes the project, or None when it does.

    The reason names a file of the project (by its full path), or the setting that changed. A
    manifest without a record is judged by the times (module docstring) and, when current,
    adopted: its record is written.
    """
    stamp = manifest.parent / STAMP
    found = _read(stamp)
    is_ours, manifest_digest = False, None
    if found is not None:
        is_ours, manifest_digest = _describes(found[0]["manifest"], manifest)
    if found is None or not is_ours:
        return _judged_by_time(project_dir, manifest, stamp, settings)
    header, raw_table = found
    changed_settings = _settings_change(header["settings"], settings)
    if changed_settings is not None:
        return changed_settings
    listing = list(source_files(project_dir))
    if manifest_digest is None and header.get("listing") == listing_digest(listing):
        return None  # every file as recorded, to the nanosecond: the table is not even read
    recorded = _table(raw_table)
    if recorded is None:
        return _judged_by_time(project_dir, manifest, stamp, settings)
    now = time.time_ns()
    reason, refreshed = _compared(project_dir, recorded, listing, now)
    if reason is not None:
        return reason
    if refreshed or manifest_digest is not None:  # recorded again: a stat walk next time
        files = {**recorded, **refreshed}
        digest = manifest_digest or str(header["manifest"].get("sha256"))
        record(stamp, manifest, Snapshot(files, now), settings, manifest_sha256=digest)
    return None


def _compared(
    project_dir: Path,
    recorded: Mapping[str, Any],
    listing: list[tuple[str, int, int]],
    now: int,
) -> tuple[str | None, dict[str, list[Any]]]:
    """Why the files differ from their record (None if they do not), and what to record again.

    The entries to record again are those of files whose bytes are the recorded ones under
    another time (a stat finds them unchanged next time).
    """
    present: set[str] = set()
    added: list[str] = []
    changed: list[str] = []
    refreshed: dict[str, list[Any]] = {}
    for relative, size, mtime in listing:
        present.add(relative)
        entry = recorded.get(relative)
        if not isinstance(entry, list) or len(entry) != 3:
            added.append(relative)
        elif size != entry[0]:
            changed.append(relative)
        elif mtime != entry[1]:
            if _sha256(project_dir / relative) != entry[2]:
                changed.append(relative)
            elif _recordable(mtime, now) != entry[1]:
                refreshed[relative] = [size, _recordable(mtime, now), entry[2]]
    removed = [relative for relative in recorded if relative not in present]
    for names, what in ((changed, "changed"), (added, "added"), (removed, "removed")):
        if names:
            return f"{_listed(project_dir, names, what)} since it was parsed", refreshed
    return None, refreshed


def _judged_by_time(
    project_dir: Path, manifest: Path, stamp: Path, settings: Mapping[str, str]
) -> str | None:
    """Someone else's manifest: current when newer than every source file (then adopted)."""
    try:
        made = manifest.stat().st_mtime_ns
    except OSError:
        return "it cannot be read"
    newer = [relative for relative, _, mtime in source_files(project_dir) if mtime >= made]
    if not newer:
        snapshot = take_snapshot(project_dir)  # hashed now: checked again against the manifest
        if snapshot.newest[0] >= made:
            newer = [snapshot.newest[1]]
        else:
            record(stamp, manifest, snapshot, settings)
    if newer:
        return (
            f"{_listed(project_dir, newer, 'modified after it was written')}, and it was not "
            "parsed by floe (no record of the files it was parsed from)"
        )
    return None
