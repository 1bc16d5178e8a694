"""The dbt manifest, parsed only when something needs it.

With the spec cache warm (``_spec_cache``), a load needs only the manifest's digest (for the
cache key), not the parsed manifest: at 20,000 models the parsed manifest is about 480 MiB and
seconds of ``json.loads``. It is parsed on first use instead: when a run starts (dagster-dbt,
lineage and spans read it), when a schedule's selection is evaluated, or on a cold load, which
lets it go again once the specs are built (``_assets``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster_dbt.dagster_dbt_translator import DbtManifestWrapper as _DagsterDbtManifestWrapper

from floe_scaffold.errors import FloeError

__all__ = ["LazyManifestWrapper", "ManifestChangedError", "ManifestSource"]


class ManifestChangedError(FloeError):
    """The manifest file changed between loading the definitions and parsing it for a run."""


_CHUNK = 1 << 20  # bytes hashed at a time


def _sha256_of(path: Path) -> str:
    """The file's SHA-256, read a chunk at a time (a 20,000-model manifest is 130 MiB)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class ManifestSource:
    """One manifest file: its digest (for the cache key), its parsed content on demand.

    Nothing of the file is kept but its digest: a warm load never holds its bytes, and a parse
    reads the file again, checks it is the file the digest was taken of, and lets the bytes go
    before ``json.loads`` builds the dictionary (at 20,000 models that is 130 MiB less at the
    peak of a cold load, 130 MiB less all along a warm one).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.digest = _sha256_of(path)
        self._parsed: dict[str, Any] | None = None

    def release(self) -> None:
        """Let the parsed manifest go (a later ``get`` reads the file again)."""
        self._parsed = None

    @property
    def parsed(self) -> bool:
        """Whether the parsed manifest is held now."""
        return self._parsed is not None

    def get(self) -> dict[str, Any]:
        """The parsed manifest, checked to be the file the digest was taken of."""
        if self._parsed is None:
            data = self.path.read_bytes()
            if hashlib.sha256(data).hexdigest() != self.digest:
                raise ManifestChangedError(
                    f"{self.path} changed after the definitions were loaded; reload the code "
                    "location (or run again) so the assets match the new manifest"
                )
            text = data.decode(json.detect_encoding(data), "surrogatepass")  # as json.loads does
            del data
            self._parsed = json.loads(text)
        return self._parsed


class LazyManifestWrapper(_DagsterDbtManifestWrapper):
    """dagster-dbt's manifest wrapper (asset metadata) whose manifest is parsed on first use."""

    def __init__(self, source: ManifestSource) -> None:  # no dataclass __init__: no field set
        self._source = source

    @property
    def manifest(self) -> Mapping[str, Any]:
        return self._source.get()

    @manifest.setter
    def manifest(self, value: Mapping[str, Any]) -> None:
        del value
        raise AttributeError("a lazy manifest wrapper reads its file; it cannot be replaced")


# Dagster shows an unserializable metadata value as "[<class name>] (unserializable)": keep the
# name dagster-dbt's own wrapper has, so the UI shows the same text warm or cold.
LazyManifestWrapper.__name__ = _DagsterDbtManifestWrapper.__name__
LazyManifestWrapper.__qualname__ = _DagsterDbtManifestWrapper.__qualname__
