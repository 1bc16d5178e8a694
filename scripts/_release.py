"""``scripts/release X.Y.Z``: make a floe-scaffold release in this checkout, in one command.

1. Refuse a dirty working tree, and a version that is not after the current one (PEP 440): not
   below the version in ``copier.yml`` and after every ``vX.Y.Z`` tag.
2. Set the version where it is written, ``copier.yml``'s ``floe_scaffold_version`` (the package
   reads it, see ``[tool.hatch.version]``; the template renders it into each project's pin,
   README and CI workflow).
3. Move ``CHANGELOG.md``'s "Unreleased" section, which must hold an "Upgrading" note, under the
   new version and today's date.
4. Commit, tag ``vX.Y.Z`` (annotated), then build the sdist and the wheel into ``dist/``: the
   build hook bundles the template with its tags, so the tag comes first.
"""

from __future__ import annotations

import argparse
import datetime
import re
import subprocess
import sys
from pathlib import Path

import yaml
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parents[1]
VERSION_FILE = "copier.yml"
CHANGELOG = "CHANGELOG.md"
#: The one line the version is written on (pyproject.toml's [tool.hatch.version] reads it too).
VERSION_LINE = re.compile(
    r'^(?P<head>floe_scaffold_version: \{type: str, default: ")(?P<version>[^"]+)'
    r'(?P<tail>", when: false\})$',
    re.MULTILINE,
)
UNRELEASED = "## [Unreleased]"
UPGRADING = "### Upgrading"


class ReleaseError(Exception):
    """A release that cannot be made; the message says why and how to fix it."""


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ReleaseError(f"git {' '.join(args)} failed in {root}: {done.stderr.strip()}")
    return done.stdout


def parse_version(text: str) -> Version:
    """``text`` as a PEP 440 version, written in its normal form."""
    try:
        version = Version(text)
    except InvalidVersion:
        raise ReleaseError(f"{text!r} is not a PEP 440 version; give one such as 1.2.0") from None
    if str(version) != text:
        raise ReleaseError(f"write the version {text!r} in its normal form, {version}")
    return version


def current_version(root: Path) -> Version:
    """The version written in ``copier.yml``."""
    found = VERSION_LINE.findall((root / VERSION_FILE).read_text(encoding="utf-8"))
    if len(found) != 1:
        raise ReleaseError(
            f"{root / VERSION_FILE}: expected one line 'floe_scaffold_version: {{type: str, "
            f'default: "X.Y.Z", when: false}}\', found {len(found)}; restore it'
        )
    return Version(found[0][1])


def _as_version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def released_versions(root: Path) -> list[Version]:
    """The versions of the ``vX.Y.Z`` tags (tags that are not versions are ignored)."""
    tagged = (_as_version(tag[1:]) for tag in _git(root, "tag", "--list", "v*").split())
    return [version for version in tagged if version is not None]


def check_releasable(root: Path, version: Version) -> None:
    """Refuse a dirty tree, and a version that is not after the current one."""
    dirty = _git(root, "status", "--porcelain", "--untracked-files=all").splitlines()
    if dirty:
        shown = ", ".join(line[3:] for line in dirty[:5]) + (", ..." if len(dirty) > 5 else "")
        raise ReleaseError(
            f"the working tree of {root} has uncommitted changes ({shown}); a release is made "
            "from committed files only: commit or stash them first"
        )
    current = current_version(root)
    if version < current:
        raise ReleaseError(
            f"{version} is not after the current version {current} ({VERSION_FILE}); "
            "give a later version"
        )
    released = [known for known in released_versions(root) if known >= version]
    if released:
        raise ReleaseError(
            f"{version} is not after the released v{max(released)} (a tag); give a later version"
        )


def set_version(text: str, version: Version) -> str:
    """``copier.yml``'s text with ``floe_scaffold_version`` set to ``version``."""
    updated = VERSION_LINE.sub(rf"\g<head>{version}\g<tail>", text)
    loaded = yaml.safe_load(updated)
    if loaded["floe_scaffold_version"]["default"] != str(version):
        raise ReleaseError(f"{VERSION_FILE}: the version line did not take {version}")
    return updated


def date_changelog(text: str, version: Version, today: datetime.date) -> str:
    """The changelog with its "Unreleased" section moved under ``version`` and ``today``."""
    head, marker, rest = text.partition(f"\n{UNRELEASED}\n")
    if not marker:
        raise ReleaseError(f"{CHANGELOG} has no '{UNRELEASED}' heading; add it above the releases")
    section, next_heading, older = rest.partition("\n## ")
    notes = section.strip()
    if UPGRADING not in notes.splitlines():
        raise ReleaseError(
            f"{CHANGELOG}'s '{UNRELEASED}' section has no '{UPGRADING}' note: say what a user "
            "of the previous release must do (or that nothing is needed), then commit it"
        )
    dated = f"## [{version}] - {today.isoformat()}\n\n{notes}\n"
    releases = f"\n## {older}" if next_heading else ""
    return f"{head}\n{UNRELEASED}\n\n{dated}{releases}"


def release(root: Path, version: Version, today: datetime.date, python: str) -> list[Path]:
    """Make the release in ``root``; the built sdist and wheel."""
    check_releasable(root, version)
    copier_yml, changelog = root / VERSION_FILE, root / CHANGELOG
    if not changelog.is_file():
        raise ReleaseError(f"{changelog} is missing; create it with a '{UNRELEASED}' section")
    new_changelog = date_changelog(changelog.read_text(encoding="utf-8"), version, today)
    new_copier_yml = set_version(copier_yml.read_text(encoding="utf-8"), version)
    copier_yml.write_text(new_copier_yml, encoding="utf-8")
    changelog.write_text(new_changelog, encoding="utf-8")
    tag = f"v{version}"
    _git(root, "add", VERSION_FILE, CHANGELOG)
    _git(root, "commit", "-q", "-m", f"Release {version}")
    _git(root, "tag", "-a", tag, "-m", f"floe-scaffold {version}")
    built = [
        root / "dist" / f"floe_scaffold-{version}.tar.gz",
        root / "dist" / f"floe_scaffold-{version}-py3-none-any.whl",
    ]
    for stale in built:
        stale.unlink(missing_ok=True)
    done = subprocess.run(
        [python, "-m", "hatchling", "build", "-t", "sdist", "-t", "wheel"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not all(path.is_file() for path in built):
        raise ReleaseError(
            f"the release commit and tag {tag} are made, but the build failed:\n"
            f"{(done.stdout + done.stderr).strip()[-3000:]}\nfix it and build again with "
            f"`{python} -m hatchling build -t sdist -t wheel`, or undo the release with "
            f"`git tag -d {tag} && git reset --keep HEAD~1`"
        )
    return built


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, release, report; exit 1 with the reason when refused."""
    parser = argparse.ArgumentParser(
        prog="scripts/release",
        description="Set the version, date the changelog, commit, tag vX.Y.Z, build.",
    )
    parser.add_argument("version", help="the new version, PEP 440 (e.g. 0.2.0)")
    args = parser.parse_args(argv)
    try:
        version = parse_version(args.version)
        built = release(ROOT, version, datetime.date.today(), sys.executable)
    except ReleaseError as refused:
        print(f"release: {refused}", file=sys.stderr)
        return 1
    print(f"released floe-scaffold {version}: commit and tag v{version}, built")
    for path in built:
        print(f"  {path.relative_to(ROOT)}")
    print(
        f"next: git push origin HEAD v{version}, then upload dist/ to the package index; "
        "reinstall an editable checkout (pip install -e .) so it reports the new version"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
