"""A cache of the dbt asset and check specs, as JSON, keyed by everything they depend on.

Building the specs of a dbt project (dagster-dbt's ``build_dbt_specs``: dbt's selector, then the
translator for every node) is the largest cost of a load that grows with the project: 10.8 s at
20,000 models. They depend only on the manifest and on the settings that shape them, so a code
server, ``dg`` and ``dagster dev`` pay for them once per manifest, not once per process.

* **Key**: a SHA-256 over the manifest's bytes, the selection, the translator (class and
  settings) and the contract's column classifications it reads, the dbt project's path, and the
  floe-scaffold, dagster, dagster-dbt and dbt-core versions. A change to any of them is another
  key, another file.
* **Format**: JSON. Metadata values are written with Dagster's serdes (``pack_value``), which on
  reading builds only the classes Dagster whitelisted for serialization and calls no other code:
  a crafted file can make a wrong entry at worst (the key is not a signature), never run code.
  The live objects dagster-dbt puts in the metadata (the manifest, the translator, the
  ``DbtProject``) are written as markers and put back from the current load.
* **Shared and lost safely**: written to a temporary file then renamed over the entry (readers
  see a whole file or none); an entry that cannot be read (corrupt, truncated, another format
  version, a spec field this codec does not carry) is ignored and rebuilt, silently. Old entries
  beyond the newest few are removed when a new one is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from dagster import AssetCheckSpec, AssetDep, AssetKey, AssetSpec
from dagster._core.definitions.metadata import MetadataValue, normalize_metadata_value
from dagster_shared.serdes import pack_value, unpack_value

__all__ = ["FORMAT", "CacheEntries", "Specs", "cache_key", "load_specs", "save_specs"]

#: The format of an entry; a change here makes every older entry a miss.
FORMAT = "floe-spec-cache/3"  # 2: sources' freshness checks (issue 17); 3: sources' assets
_KEEP = 4  # entries kept in the folder (the newest); the others are removed on write
#: A temporary file older than this was left by a process that died writing it (a live writer
#: renames its own within seconds: 50,000 models take about 10 s); it is removed on write.
_ABANDONED_SECONDS = 600
_MANIFEST = "dagster_dbt/manifest"
_TRANSLATOR = "dagster_dbt/dagster_dbt_translator"
_PROJECT = "dagster_dbt/project"
_RAW_TYPES = (str, bool, int)
#: The asset specs, dbt's check specs, and the other check and asset specs kept with them.
Specs = tuple[
    Sequence[AssetSpec], Sequence[AssetCheckSpec], Sequence[AssetCheckSpec], Sequence[AssetSpec]
]


class _UncacheableError(Exception):
    """A spec holds something this codec does not carry; such specs are simply not cached."""


class CacheEntries:
    """The cache folder of one dbt project (``target/floe_spec_cache``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, key: str) -> Path:
        """The entry of ``key``."""
        return self.folder / f"{key}.json"


def cache_key(manifest_digest: str, parts: Mapping[str, Any]) -> str:
    """SHA-256 over the manifest's (its SHA-256) and ``parts`` (settings and versions), hex."""
    digest = hashlib.sha256()
    digest.update(FORMAT.encode())
    digest.update(b"\0")
    digest.update(json.dumps(parts, sort_keys=True, default=repr).encode())
    digest.update(b"\0")
    digest.update(manifest_digest.encode())
    return digest.hexdigest()


# ---------------------------------------------------------------------------- writing


class _Values:
    """Packed metadata values, each written once (``values`` of the entry) and referred to."""

    def __init__(self) -> None:
        self.packed: list[Any] = []
        self._index: dict[str, int] = {}

    def add(self, value: Any) -> int:
        normalized: Any = normalize_metadata_value(value)  # a whitelisted serdes record
        packed = pack_value(normalized)
        text = json.dumps(packed, sort_keys=True)
        if text not in self._index:
            self._index[text] = len(self.packed)
            self.packed.append(packed)
        return self._index[text]


def _metadata_out(
    metadata: Mapping[str, Any], live: Mapping[str, Any], values: _Values
) -> list[Any]:
    entries: list[Any] = []
    for name, value in metadata.items():
        if name in live:
            if _live_value(name, value) is not live[name]:
                raise _UncacheableError(name)
            entries.append([name, "live"])
        elif type(value) in _RAW_TYPES:
            entries.append([name, "raw", value])
        else:
            try:
                index = values.add(value)
            except Exception as error:  # any value serdes cannot carry
                raise _UncacheableError(name) from error
            entries.append([name, "value", index])
    return entries


def _live_value(name: str, value: Any) -> Any:
    return value.manifest if name == _MANIFEST and hasattr(value, "manifest") else value


def _dep_out(dep: AssetDep, live: Mapping[str, Any], values: _Values) -> dict[str, Any]:
    if dep.partition_mapping is not None:
        raise _UncacheableError("partition_mapping")
    return {
        "key": list(dep.asset_key.path),
        "metadata": _metadata_out(dep.metadata, live, values),
    }


def _spec_out(spec: AssetSpec, live: Mapping[str, Any], values: _Values) -> dict[str, Any]:
    unsupported = (
        spec.automation_condition,
        spec.partitions_def,
        spec.freshness_policy,
        spec.legacy_freshness_policy,
    )
    if any(value is not None for value in unsupported):
        raise _UncacheableError(spec.key.to_user_string())
    return {
        "key": list(spec.key.path),
        "deps": [_dep_out(dep, live, values) for dep in spec.deps],
        "description": spec.description,
        "metadata": _metadata_out(spec.metadata, live, values),
        "skippable": spec.skippable,
        "group_name": spec.group_name,
        "code_version": spec.code_version,
        "owners": list(spec.owners),
        "tags": dict(spec.tags),
        "is_virtual": spec.is_virtual,
    }


def _check_out(spec: AssetCheckSpec, live: Mapping[str, Any], values: _Values) -> dict[str, Any]:
    if spec.automation_condition is not None or spec.partitions_def is not None:
        raise _UncacheableError(spec.name)
    return {
        "name": spec.name,
        "asset": list(spec.asset_key.path),
        "description": spec.description,
        "additional_deps": [_dep_out(dep, live, values) for dep in spec.additional_deps],
        "blocking": spec.blocking,
        "metadata": _metadata_out(spec.metadata, live, values),
    }


def save_specs(
    entries: CacheEntries,
    key: str,
    specs: Sequence[AssetSpec],
    check_specs: Sequence[AssetCheckSpec],
    live: Mapping[str, Any],
    extra_checks: Sequence[AssetCheckSpec] = (),
    extra_specs: Sequence[AssetSpec] = (),
) -> bool:
    """Write the entry of ``key`` atomically; False (and no entry written) if it cannot be.

    ``extra_checks`` and ``extra_specs`` are check and asset specs of other definitions built
    from the same manifest (the sources' freshness checks and assets), kept apart from dbt's.
    The entry is written a spec at a time (each by ``json.dumps``), so the whole document is
    never held in memory beside the specs.
    """
    try:
        entries.folder.mkdir(parents=True, exist_ok=True)
        with _atomic_file(entries.path(key)) as handle:
            _write_entry(handle, key, specs, check_specs, (extra_checks, extra_specs), live)
        _prune(entries, keep=entries.path(key))
    except (_UncacheableError, ValueError, TypeError):
        return False
    except OSError:
        return False  # a read-only project (an image's files) or a full disk: load without
    return True


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _write_entry(
    handle: TextIO,
    key: str,
    specs: Sequence[AssetSpec],
    check_specs: Sequence[AssetCheckSpec],
    extra: tuple[Sequence[AssetCheckSpec], Sequence[AssetSpec]],
    live: Mapping[str, Any],
) -> None:
    """The entry's JSON object: format, key, specs, checks, extra checks and specs, values."""
    values = _Values()
    handle.write(f'{{"format":{_json(FORMAT)},"key":{_json(key)}')
    sections: tuple[tuple[str, Sequence[Any], Callable[..., dict[str, Any]]], ...] = (
        ("specs", specs, _spec_out),
        ("checks", check_specs, _check_out),
        ("extra_checks", extra[0], _check_out),
        ("extra_specs", extra[1], _spec_out),
    )
    for name, items, write_out in sections:
        handle.write(f',"{name}":[')
        for index, item in enumerate(items):
            handle.write(("," if index else "") + _json(write_out(item, live, values)))
        handle.write("]")
    handle.write(f',"values":{_json(values.packed)}}}')


@contextmanager
def _atomic_file(path: Path) -> Iterator[TextIO]:
    """A new file written beside ``path`` and renamed over it when the block ends without error.

    Readers see the old entry or the whole new one, never a part; on any error the partial file
    is removed. Its mode is 0o666 less the umask, as the project's other generated files (mkstemp
    would force 0600).
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:  # json.dumps: ASCII only
            yield handle
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _prune(entries: CacheEntries, keep: Path) -> None:
    """Remove the entries beyond the newest few, and temporary files a dead writer left."""
    now = time.time()
    dated: list[tuple[float, Path]] = []
    for path in entries.folder.iterdir():
        try:
            modified = path.stat().st_mtime
        except FileNotFoundError:
            continue  # removed by another process meanwhile
        if path.suffix == ".json" and path != keep:
            dated.append((modified, path))
        elif path.suffix == ".tmp" and now - modified > _ABANDONED_SECONDS:
            path.unlink(missing_ok=True)
    for _, old in sorted(dated, reverse=True)[_KEEP - 1 :]:
        old.unlink(missing_ok=True)


# ---------------------------------------------------------------------------- reading


def _metadata_in(entries: Any, live: Mapping[str, Any], values: Sequence[Any]) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    for entry in entries:
        name, kind = entry[0], entry[1]
        if not isinstance(name, str):
            raise TypeError(name)
        if kind == "live":
            metadata[name] = live[name]
        elif kind == "raw" and type(entry[2]) in _RAW_TYPES:
            metadata[name] = entry[2]
        elif kind == "value" and type(entry[2]) is int and entry[2] >= 0:
            metadata[name] = values[entry[2]]
        else:
            raise TypeError(name)
    return metadata


def _key(path: Any) -> AssetKey:
    if not isinstance(path, list) or not all(isinstance(part, str) for part in path):
        raise TypeError(path)
    return AssetKey(path)


def _deps_in(deps: Any, live: Mapping[str, Any], values: Sequence[Any]) -> list[AssetDep]:
    return [
        AssetDep(_key(dep["key"]), metadata=_metadata_in(dep["metadata"], live, values))
        for dep in deps
    ]


def _spec_in(raw: Any, live: Mapping[str, Any], values: Sequence[Any]) -> AssetSpec:
    return AssetSpec(
        key=_key(raw["key"]),
        deps=_deps_in(raw["deps"], live, values),
        description=raw["description"],
        metadata=_metadata_in(raw["metadata"], live, values),
        skippable=raw["skippable"],
        group_name=raw["group_name"],
        code_version=raw["code_version"],
        owners=raw["owners"],
        tags=raw["tags"],
        is_virtual=raw["is_virtual"],
    )


def _check_in(raw: Any, live: Mapping[str, Any], values: Sequence[Any]) -> AssetCheckSpec:
    return AssetCheckSpec(
        raw["name"],
        asset=_key(raw["asset"]),
        description=raw["description"],
        additional_deps=_deps_in(raw["additional_deps"], live, values),
        blocking=raw["blocking"],
        metadata=_metadata_in(raw["metadata"], live, values),
    )


def _values_in(packed: Any) -> list[Any]:
    """Each packed value, built by serdes (whitelisted classes only); each a MetadataValue."""
    values = [unpack_value(value) for value in packed]
    if not all(isinstance(value, MetadataValue) for value in values):
        raise TypeError("a value of the entry is not a Dagster metadata value")
    return values


def load_specs(entries: CacheEntries, key: str, live: Mapping[str, Any]) -> Specs | None:
    """The specs of the entry of ``key``, or None when it is missing or cannot be read.

    ``live`` maps the markers back to this load's objects: the metadata keys of the manifest,
    translator and project to the manifest's wrapper, the translator and the project.
    """
    try:
        document = json.loads(entries.path(key).read_bytes())
        if document.get("format") != FORMAT or document.get("key") != key:
            return None
        values = _values_in(document["values"])
        specs = [_spec_in(raw, live, values) for raw in document["specs"]]
        checks = [_check_in(raw, live, values) for raw in document["checks"]]
        extra = [_check_in(raw, live, values) for raw in document["extra_checks"]]
        extra_specs = [_spec_in(raw, live, values) for raw in document["extra_specs"]]
    except Exception:  # noqa: BLE001 - any unreadable entry is a miss: it is rebuilt
        return None
    return specs, checks, extra, extra_specs
