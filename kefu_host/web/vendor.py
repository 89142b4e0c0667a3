"""The browser libraries the pages use, vendored from npm as ES modules with their licences and a manifest.

Refresh them (after changing a version below) with::

    python -m kefu_host.web.vendor          # npm pack each package, check its integrity, copy the files
    python -m kefu_host.web.vendor --check  # offline: the vendored files match the manifest

``npm pack NAME@VERSION`` downloads the registry's tarball; its sha512 must equal the ``integrity`` npm reports, and
the manifest keeps that integrity and a sha256 of every file copied out of the tarball, so a test can tell when a
vendored file was edited by hand.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kefu_host.web.importmap import VENDOR_DIR, load_manifest


@dataclass(frozen=True, slots=True)
class Package:
    """An npm package and the files taken from its tarball: path in the tarball -> path under static/vendor/."""

    name: str
    version: str
    files: dict[str, str]
    #: bare import specifier -> vendored file, for the import map
    imports: dict[str, str]


PACKAGES: tuple[Package, ...] = (
    Package(
        "preact", "11.2.0",
        files={"package/dist/preact.mjs": "preact/preact.mjs", "package/hooks/dist/hooks.mjs": "preact/hooks.mjs",
               "package/LICENSE": "preact/LICENSE"},
        imports={"preact": "preact/preact.mjs", "preact/hooks": "preact/hooks.mjs"},
    ),
    Package(
        "htm", "3.1.1",
        files={"package/dist/htm.mjs": "htm/htm.mjs", "package/preact/index.mjs": "htm/preact.mjs",
               "package/LICENSE": "htm/LICENSE"},
        imports={"htm": "htm/htm.mjs", "htm/preact": "htm/preact.mjs"},
    ),
)  # fmt: skip


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check(vendor_dir: Path = VENDOR_DIR) -> list[str]:
    """What differs between the vendored files and the manifest (empty when they match)."""
    manifest = load_manifest(vendor_dir / "manifest.json")
    problems: list[str] = []
    listed = {"manifest.json"}
    for package in manifest["packages"]:
        for target, entry in package["files"].items():
            listed.add(target)
            path = vendor_dir / target
            if not path.is_file():
                problems.append(f"{target}: missing")
            elif sha256_hex(path.read_bytes()) != entry["sha256"]:
                problems.append(f"{target}: sha256 differs from the manifest ({package['name']}@{package['version']})")
    for path in sorted(p for p in vendor_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(vendor_dir).as_posix()
        if rel not in listed:
            problems.append(f"{rel}: not in the manifest")
    return problems


def _pack(package: Package, workdir: Path) -> tuple[Path, str]:
    """Download the package's tarball with npm; returns it and the integrity npm reported, after checking it."""
    out = subprocess.run(
        ["npm", "pack", f"{package.name}@{package.version}", "--json", "--pack-destination", str(workdir)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    info = json.loads(out)[0]
    tarball = workdir / info["filename"]
    integrity = str(info["integrity"])
    algorithm, _, digest = integrity.partition("-")
    if algorithm != "sha512":
        raise SystemExit(f"{package.name}: npm reported {algorithm} integrity; expected sha512")
    actual = base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    if actual != digest:
        raise SystemExit(f"{package.name}@{package.version}: tarball sha512 does not match npm's integrity")
    return tarball, integrity


def refresh(vendor_dir: Path = VENDOR_DIR) -> dict[str, Any]:
    """Replace the vendored files with the packages' own, and write the manifest."""
    entries = []
    with tempfile.TemporaryDirectory() as tmp:
        for package in PACKAGES:
            tarball, integrity = _pack(package, Path(tmp))
            files: dict[str, dict[str, str]] = {}
            with tarfile.open(tarball) as archive:
                meta = archive.extractfile("package/package.json")
                assert meta is not None
                licence = str(json.load(meta)["license"])
                for source, target in package.files.items():
                    member = archive.extractfile(source)
                    if member is None:
                        raise SystemExit(f"{package.name}: {source} is not a file in the tarball")
                    data = member.read()
                    path = vendor_dir / target
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(data)
                    files[target] = {"from": source, "sha256": sha256_hex(data)}
            entries.append({"name": package.name, "version": package.version, "license": licence,
                            "integrity": integrity, "files": files, "imports": package.imports})
    manifest = {"comment": "written by python -m kefu_host.web.vendor; do not edit", "packages": entries}
    (vendor_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kefu_host.web.vendor", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare the vendored files with the manifest")
    args = parser.parse_args(argv)
    if not args.check:
        manifest = refresh()
        for package in manifest["packages"]:
            print(f"{package['name']}@{package['version']} {package['integrity']}")
    problems = check()
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
