"""The inline import map that lets page modules say ``import { h } from "preact"``, and its hash for the CSP.

An import map cannot be loaded from a file; inline, it is a script the CSP must allow. Its text is fixed (built
from the vendor manifest), so the pages allow exactly that text by its sha256 instead of ``'unsafe-inline'``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VENDOR_DIR = Path(__file__).parent / "static" / "vendor"
MANIFEST = VENDOR_DIR / "manifest.json"
#: Where the pages load vendored files from.
VENDOR_URL = "/static/vendor/"


@dataclass(frozen=True, slots=True)
class ImportMap:
    text: str
    #: the CSP source allowing exactly ``text``: ``'sha256-...'``
    csp_source: str


def load_manifest(path: Path = MANIFEST) -> dict[str, Any]:
    """The vendor manifest written by ``python -m kefu_host.web.vendor``."""
    return dict(json.loads(path.read_text(encoding="utf-8")))


def import_map(manifest: dict[str, Any]) -> ImportMap:
    imports = {spec: VENDOR_URL + path for package in manifest["packages"] for spec, path in package["imports"].items()}
    text = json.dumps({"imports": imports}, separators=(",", ":"), sort_keys=True)
    if "<" in text:  # it goes between <script> tags verbatim
        raise ValueError("import map must not contain '<'")
    return ImportMap(text, csp_hash(text))


def csp_hash(script_text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script_text.encode()).digest()).decode() + "'"
