"""The static files under ``kefu_host/web/static``, read once at startup and served with an ETag.

The whole tree is a few hundred kilobytes, so it lives in memory: no file system access per request, and the
ETag (a content hash) is computed once. ``Cache-Control: no-cache`` makes browsers revalidate, which costs a 304
when nothing changed and never serves a stale console after an upgrade (the URLs carry no version).
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from kefu_host.web.headers import STATIC_HEADERS

STATIC_DIR = Path(__file__).parent / "static"
CACHE_CONTROL = "no-cache"
_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css", ".json": "application/json",
          ".svg": "image/svg+xml", ".png": "image/png", "": "text/plain"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str  # without quotes


def load_assets(root: Path = STATIC_DIR) -> dict[str, Asset]:
    """Every file under ``root`` by its path relative to it (``console/main.js``)."""
    assets = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        body = path.read_bytes()
        kind = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        assets[path.relative_to(root).as_posix()] = Asset(body, kind, hashlib.sha256(body).hexdigest()[:32])
    return assets


def asset_response(request: web.Request, asset: Asset, extra: Mapping[str, str] | None = None) -> web.Response:
    """200 with the file, or 304 when the browser's copy (``If-None-Match``) is current."""
    headers = {**STATIC_HEADERS, "ETag": f'"{asset.etag}"', "Cache-Control": CACHE_CONTROL, **(extra or {})}
    if any(tag.value == asset.etag for tag in request.if_none_match or ()):
        return web.Response(status=304, headers=headers)
    charset = "utf-8" if asset.content_type.startswith("text/") or asset.content_type.endswith("json") else None
    return web.Response(body=asset.body, content_type=asset.content_type, charset=charset, headers=headers)
