"""Real images without a daemon or a registry: buildah, a Debian base image, a local wheelhouse.

* :class:`Buildah` runs ``buildah`` on a private ``vfs`` store (no daemon, no privileges beyond
  what the CI machine's root has), builds with ``chroot`` isolation and runs a command of an
  image with the host's network: the process sees the image's filesystem and user.
* :func:`debian_base` makes the base image from Debian's packages (``debootstrap``), because no
  image registry can be reached: the Dockerfile's ``BASE_IMAGE`` build argument takes it.
* :func:`wheelhouse` puts every wheel the image installs into one folder (the floe-scaffold
  wheel of this checkout, the rest pinned to this environment's versions), so the image build
  itself needs no network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
#: Debian release and mirror of the base image (the mirror can be overridden for CI).
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = os.environ.get("FLOE_DEBIAN_MIRROR", "http://deb.debian.org/debian")
#: What the image installs besides the project: the build backend and its editable support.
BUILD_REQUIREMENTS = ("hatchling", "editables")
IDENTITY = ("-c", "user.name=test", "-c", "user.email=test@localhost")


def _run(
    command: list[str],
    *,
    cwd: Path | None = None,
    timeout: float = 1800,
    env: dict[str, str] | None = None,
) -> str:
    done = subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env=None if env is None else {**os.environ, **env},
    )
    assert done.returncode == 0, (
        f"{' '.join(command[:6])} ... failed ({done.returncode}):\n"
        f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    )
    return done.stdout


#: Proxies that refuse every connection: buildah hands them to each RUN step (its default
#: --http-proxy), so a build step that reaches for the network fails instead of downloading.
NO_NETWORK = dict.fromkeys(
    ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"), "http://127.0.0.1:9"
)


class Buildah:
    """``buildah`` on its own vfs store under ``root``."""

    def __init__(self, root: Path) -> None:
        tool = shutil.which("buildah")
        assert tool, "buildah is not installed: run scripts/bootstrap (it installs buildah)"
        assert os.geteuid() == 0, (
            "building and running a real image (debootstrap, buildah's vfs store) needs root, "
            "as CI has; elsewhere leave the slow tests out: pytest -m 'not slow'"
        )
        self.root = root
        self.base = [
            tool,
            "--root",
            str(root / "storage"),
            "--runroot",
            str(root / "run"),
            "--storage-driver",
            "vfs",
        ]

    def __call__(self, *args: str, timeout: float = 1800, env: dict[str, str] | None = None) -> str:
        """Run a buildah command; fail the test with buildah's words if it fails."""
        return _run([*self.base, *args], timeout=timeout, env=env)

    def import_rootfs(self, rootfs: Path, image: str) -> None:
        """Make ``image`` from a root filesystem directory (one layer)."""
        archive = rootfs.parent / "rootfs.tar"
        _run(["tar", "-C", str(rootfs), "-cf", str(archive), "."])
        container = self("from", "scratch").strip()
        try:
            self("add", container, str(archive), "/")
            self("commit", "--quiet", container, image)
        finally:
            self("rm", container)
            archive.unlink()

    def build(self, context: Path, image: str, build_args: dict[str, str]) -> float:
        """Build ``context``'s Dockerfile offline; return the seconds it took.

        chroot isolation shares the host's network (buildah allows no other), so the build is
        kept offline by a base image that is never pulled and proxies that refuse everything.
        """
        arguments = [
            item for key, value in build_args.items() for item in ("--build-arg", f"{key}={value}")
        ]
        started = time.monotonic()
        self(
            *("bud", "--isolation", "chroot", "--pull=never", *arguments),
            *("-t", image, str(context)),
            env=NO_NETWORK,
        )
        return time.monotonic() - started

    def image_size(self, image: str) -> str:
        """The image's size as buildah reports it (``884 MB``: its layers, uncompressed)."""
        return self("images", "--format", "{{.Size}}", image).strip()

    def container(self, image: str) -> str:
        """A working container of ``image`` (remove it with ``buildah rm``)."""
        return self("from", "--pull=never", image).strip()

    def run_command(
        self, container: str, *command: str, env: dict[str, str] | None = None
    ) -> list[str]:
        """The command line that runs ``command`` in ``container`` with the host's network."""
        pairs = [item for key, value in (env or {}).items() for item in ("-e", f"{key}={value}")]
        return [
            *self.base,
            "run",
            "--isolation",
            "chroot",
            "--network",
            "host",
            *pairs,
            container,
            "--",
            *command,
        ]

    def run(self, container: str, *command: str) -> subprocess.CompletedProcess[str]:
        """Run ``command`` in ``container`` and return what it did (not checked)."""
        return subprocess.run(
            self.run_command(container, *command),
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )


def debian_base(buildah: Buildah, workdir: Path, image: str) -> None:
    """A minimal Debian image with Python and venv, made from Debian's packages."""
    tool = shutil.which("debootstrap")
    assert tool, "debootstrap is not installed: run scripts/bootstrap (it installs it)"
    rootfs = workdir / "rootfs"
    _run(
        [
            tool,
            "--variant=minbase",
            "--include=python3,python3-venv,ca-certificates",
            DEBIAN_SUITE,
            str(rootfs),
            DEBIAN_MIRROR,
        ]
    )
    buildah.import_rootfs(rootfs, image)
    shutil.rmtree(rootfs)


def wheelhouse(workdir: Path, requirements: list[str]) -> Path:
    """Wheels for ``requirements`` (and floe-scaffold from this checkout), pinned to this venv."""
    wheels = workdir / "wheels"
    from floe_scaffold import __version__
    from tests.project.template_repo import checkout_copy

    pip = [sys.executable, "-m", "pip"]
    _run(
        [
            *pip,
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(checkout_copy(workdir / "floe-scaffold", "release", f"v{__version__}")),
        ]
    )
    frozen = _run([*pip, "freeze", "--exclude-editable"])
    constraints = workdir / "constraints.txt"
    constraints.write_text(
        "\n".join(line for line in frozen.splitlines() if "==" in line and "@" not in line) + "\n",
        encoding="utf-8",
    )
    _run(
        [
            *pip,
            "download",
            "--quiet",
            "--only-binary=:all:",
            "-d",
            str(wheels),
            "-c",
            str(constraints),
            "--find-links",
            str(wheels),
            *requirements,
            *BUILD_REQUIREMENTS,
        ]
    )
    return wheels
