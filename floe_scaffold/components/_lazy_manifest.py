"""The dbt manifest, parsed only when something needs it.

With the spec cache warm (``_spec_cache``), a load needs only the manifest's bytes (for the
cache key), not the parsed manifest: at 20,000 models the parsed manifest is about 500 MiB and
seconds of ``json.loads``. It is parsed on first use instead: when a run starts (dagster-dbt,
lineage and spans read it), when a schedule's selection is evaluated, or on a cold load.
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


class ManifestSource:
    """One manifest file: its bytes once (for the cache key), its parsed content on demand."""

    def __init__(self, path: Path) -> None:
        self.path = path
        data = path.read_bytes()
        self.digest = hashlib.sha256(data).hexdigest()
        self._bytes: bytes | None = data
        self._parsed: dict[str, Any] | None = None

    def release(self) -> None:
        """Let the bytes go (a warm load parses nothing; a later parse reads the file again)."""
        self._bytes = None

    @property
    def parsed(self) -> bool:
        """Whether the manifest has been parsed in this process."""
        return self._parsed is not None

    def get(self) -> dict[str, Any]:
        """The parsed manifest (read again if the bytes were released, and checked unchanged)."""
        if self._parsed is None:
            data = self._bytes if self._bytes is not None else self.path.read_bytes()
            if self._bytes is None and hashlib.sha256(data).hexdigest() != self.digest:
                raise ManifestChangedError(
                    f"{self.path} changed after the definitions were loaded; reload the code "
                    "location (or run again) so the assets match the new manifest"
                )
            self._parsed = json.loads(data)
            self._bytes = None
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
