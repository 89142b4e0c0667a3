"""The vendored browser libraries are exactly the npm packages' files the manifest names, and the import map
resolves every bare specifier they and our modules use."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from kefu_host.web.assets import STATIC_DIR
from kefu_host.web.importmap import MANIFEST, VENDOR_DIR, csp_hash, import_map, load_manifest
from kefu_host.web.vendor import PACKAGES, check, main

#: ``import ... from "x"``, ``export ... from "x"``, ``import "x"`` in minified or formatted modules
SPECIFIER = re.compile(r"""(?:\bfrom\s*|\bimport\s*)["']([^"']+)["']""")


def test_vendored_files_match_the_manifest() -> None:
    assert check() == []


def test_the_manifest_names_each_package_version_integrity_and_licence() -> None:
    manifest = load_manifest()
    assert [(p["name"], p["version"]) for p in manifest["packages"]] == [(p.name, p.version) for p in PACKAGES]
    for package in manifest["packages"]:
        assert re.fullmatch(r"sha512-[A-Za-z0-9+/]{86}==", package["integrity"]), package["name"]
        assert f"{package['name']}/LICENSE" in package["files"]
        licence = (VENDOR_DIR / package["name"] / "LICENSE").read_text()
        assert {"MIT": "MIT License", "Apache-2.0": "Apache License"}[package["license"]] in licence


def test_an_edited_or_unlisted_vendored_file_is_reported(tmp_path: Path) -> None:
    copy = tmp_path / "vendor"
    shutil.copytree(VENDOR_DIR, copy)
    (copy / "preact" / "hooks.mjs").write_text("export const useState = () => {};\n")
    (copy / "htm" / "extra.js").write_text("// not from npm\n")
    assert check(copy) == [
        "preact/hooks.mjs: sha256 differs from the manifest (preact@11.2.0)",
        "htm/extra.js: not in the manifest",
    ]
    assert main(["--check"]) == 0  # the real tree is untouched


def test_every_bare_import_in_our_modules_and_the_vendored_ones_is_in_the_import_map() -> None:
    imports = json.loads(import_map(load_manifest()).text)["imports"]
    for target in imports.values():
        assert (STATIC_DIR / target.removeprefix("/static/")).is_file(), target
    seen = set()
    for path in [*STATIC_DIR.rglob("*.js"), *STATIC_DIR.rglob("*.mjs")]:
        if path.name == "widget.js" or path.parent.name == "demo":
            continue  # classic scripts for other people's pages: no imports at all
        for specifier in SPECIFIER.findall(path.read_text(encoding="utf-8")):
            if specifier.startswith("."):
                assert (path.parent / specifier).resolve().is_file(), f"{path}: {specifier}"
            else:
                assert specifier in imports, f"{path.relative_to(STATIC_DIR)} imports {specifier!r}"
                seen.add(specifier)
    assert seen == set(imports)  # and the map has nothing nobody uses


def test_the_import_map_hash_is_the_csp_hash_of_its_exact_text() -> None:
    mapping = import_map(load_manifest())
    assert mapping.csp_source == csp_hash(mapping.text)
    assert mapping.csp_source.startswith("'sha256-") and "<" not in mapping.text
    assert MANIFEST.is_file()
