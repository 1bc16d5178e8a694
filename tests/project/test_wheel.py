"""floe-scaffold as users get it: a wheel, installed twice, used offline to init and update."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from floe_scaffold import __version__
from floe_scaffold.project import TEMPLATE_URL, init_project
from floe_scaffold.project._demo import demo_contract_text
from tests.helpers import ROOT
from tests.project.template_repo import checkout_copy, git

#: Any network use fails fast: proxies that refuse, git limited to local files, pip offline.
OFFLINE = {
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "ALL_PROXY": "http://127.0.0.1:9",
    "GIT_ALLOW_PROTOCOL": "file",
    "PIP_NO_INDEX": "1",
    "GIT_CONFIG_NOSYSTEM": "1",
    "DO_NOT_TRACK": "1",
}


#: A release named with digits: ``floe-scaffold==0.1.0``, ``floe_scaffold-0.1.0-…``, ``@v0.1.0``.
HARD_CODED_RELEASE = re.compile(r"floe[-_]scaffold\W{1,3}v?\d+\.\d|\bv\d+\.\d+\.\d+")


def test_the_template_names_the_release_only_through_copier_ymls_version() -> None:
    """The pin, README and CI say ``{{ floe_scaffold_version }}``; copier.yml has the number."""
    answers = yaml.safe_load((ROOT / "copier.yml").read_text(encoding="utf-8"))
    assert answers["floe_scaffold_version"] == {
        "type": "str",
        "default": __version__,
        "when": False,
    }
    for name in ("pyproject.toml.jinja", "README.md.jinja", ".github/workflows/ci.yml.jinja"):
        text = (ROOT / "template" / name).read_text(encoding="utf-8")
        assert '"floe-scaffold=={{ floe_scaffold_version }}"' in text, name
        assert not HARD_CODED_RELEASE.findall(text), name


def _venv(path: Path, wheel: Path) -> Path:
    """A fresh virtual environment with the wheel installed; dependencies from this one."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    purelib = Path(sysconfig.get_paths(vars={"base": str(path), "platbase": str(path)})["purelib"])
    # Dependencies (dagster, dbt, copier…) come from the test environment; not floe itself,
    # whose editable finder is a .pth file there that a plain path line does not run.
    (purelib / "floe-dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8"
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(path / "bin" / "python"),
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        env={**os.environ, **OFFLINE},
    )
    return path


def _floe(venv: Path, cwd: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "floe"), *args],
        cwd=cwd,
        env={"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8", **OFFLINE},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def _release_wheel(tmp_path: Path) -> Path:
    """A wheel of this checkout as a tagged release, built offline."""
    source = checkout_copy(tmp_path / "src" / "floe-scaffold", "release", f"v{__version__}")
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(dist),
            str(source),
        ],
        check=True,
        env={**os.environ, **OFFLINE},
    )
    (wheel,) = dist.glob("floe_scaffold-*.whl")
    return wheel


@pytest.mark.slow
def test_a_wheel_inits_and_later_updates_offline_from_another_install_path(
    tmp_path: Path,
) -> None:
    wheel = _release_wheel(tmp_path)
    home = tmp_path / "home"
    home.mkdir()

    first = _venv(tmp_path / "first-install", wheel)
    imported = subprocess.run(
        [
            str(first / "bin" / "python"),
            "-c",
            "import floe_scaffold; print(floe_scaffold.__file__)",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert imported.startswith(str(first))
    done = _floe(first, tmp_path, home, "init", "shop")
    assert done.returncode == 0, done.stderr
    project = tmp_path / "shop"
    answers = (project / ".copier-answers.yml").read_text(encoding="utf-8")
    assert yaml.safe_load(answers)["_src_path"] == TEMPLATE_URL
    assert yaml.safe_load(answers)["_commit"] == f"v{__version__}"
    assert str(first) not in answers
    assert str(tmp_path) not in answers
    shutil.rmtree(first)  # the install that rendered the project is gone

    second = _venv(tmp_path / "elsewhere" / "second-install", wheel)
    contract = json.loads(demo_contract_text())
    contract["compute"]["properties"]["threads"] = 8
    contract["observability"]["lineage_endpoint"] = "http://lineage.internal:5000"
    changed = tmp_path / "compiled_artifacts.json"
    changed.write_text(json.dumps(contract), encoding="utf-8")

    done = _floe(second, project, home, "update", "--artifacts", str(changed))

    assert done.returncode == 0, done.stderr
    assert "updated" in done.stdout
    profiles = yaml.safe_load((project / ".floe/profiles/profiles.yml").read_text("utf-8"))
    assert profiles["floe"]["outputs"]["dev"]["threads"] == 8
    git(project, "commit", "-q", "-am", "update")
    again = _floe(second, project, home, "update")
    assert again.returncode == 0, again.stderr
    assert "is up to date" in again.stdout


def _setup_block(readme: str) -> str:
    """The first ``bash`` block under the generated README's "Set it up" heading."""
    section = readme.split("## Set it up", 1)[1]
    return section.split("```bash\n", 1)[1].split("```", 1)[0]


@pytest.mark.slow
def test_the_generated_readmes_setup_installs_the_project_in_a_fresh_virtualenv(
    tmp_path: Path,
) -> None:
    wheel = _release_wheel(tmp_path)
    project = tmp_path / "shop"
    init_project(project, git=False)
    block = _setup_block((project / "README.md").read_text(encoding="utf-8"))
    assert f'pip install "floe-scaffold=={__version__}"' in block
    assert 'pip install -e ".[dev]"' in block
    # The block (the commands CI runs, tests/project/test_ci.py) runs as written, in a shell with
    # a plain Python first on PATH (no virtualenv of ours active), and pip resolving every
    # dependency from the package index (its cache makes that quick); floe-scaffold, on no index,
    # comes from a folder holding its wheel, named by PIP_FIND_LINKS as the README says.
    script = block
    plain = tmp_path / "plain-python"
    plain.mkdir()
    (plain / "python").symlink_to(getattr(sys, "_base_executable", sys.executable))
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"} and not key.startswith("PYTEST")
    }
    env["PATH"] = f"{plain}{os.pathsep}/usr/local/bin{os.pathsep}/usr/bin{os.pathsep}/bin"
    env.update(DBT_SEND_ANONYMOUS_USAGE_STATS="false", DO_NOT_TRACK="1", HOME=str(tmp_path))
    env["PIP_FIND_LINKS"] = f"{wheel.parent} {env.get('PIP_FIND_LINKS', '')}".strip()
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=1500,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert re.search(r"\b4 passed\b", done.stdout), done.stdout[-2000:]
    assert "All definitions loaded successfully" in done.stdout + done.stderr, "dg check defs"
    venv_python = project / ".venv" / "bin" / "python"
    shown = subprocess.run(
        [str(venv_python), "-m", "pip", "show", "floe-scaffold"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"Version: {__version__}" in shown
    assert str(project / ".venv") in shown, "floe-scaffold is installed in the project's venv"
