"""MkDocs hooks: the reference sections generated from the code, and the bench's charts.

* ``on_page_markdown``: each ``<!-- floe-reference: NAME -->`` marker becomes the section
  ``floe_scaffold._reference`` generates (the CLI, ``defs.yaml``, the contract, exit codes);
* ``on_files``: the charts ``python -m bench.report`` draws in ``bench/results/`` are served as
  ``charts/<name>.svg``, so the performance page shows the latest without a copy in ``docs/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

from floe_scaffold._reference import expand

#: The bench's charts (relative to the repository's root) the performance page shows.
CHARTS = Path("bench") / "results"


def on_page_markdown(markdown: str, **_: Any) -> str:
    """The page with each ``<!-- floe-reference: NAME -->`` marker replaced by its section."""
    return expand(markdown)


def on_files(files: Files, *, config: Any) -> Files:
    """The site's files and the bench's SVG charts, as ``charts/<name>.svg``."""
    root = Path(config["config_file_path"]).parent
    for chart in sorted((root / CHARTS).glob("*.svg")):
        files.append(File.generated(config, f"charts/{chart.name}", abs_src_path=str(chart)))
    return files
