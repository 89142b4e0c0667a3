"""File names are user data: cleaned for showing, and encoded for the Content-Disposition header (RFC 6266)."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

#: Longest name kept (in characters); the end, with its extension, is what survives a cut.
MAX_NAME = 200
FALLBACK_NAME = "file"
#: RFC 5987 attr-char besides letters and digits: what ``filename*`` may carry unencoded.
_ATTR_CHARS = "!#$&+-.^_`|~"


def display_name(raw: str | None) -> str:
    """The name to store and show: no directories, no control or formatting characters (line breaks, bidi
    overrides that disguise ``exe.jpg`` as ``gpj.exe``), spaces collapsed, at most :data:`MAX_NAME` characters."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(" " if ch.isspace() else ch for ch in name
                   if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))
    name = " ".join(name.split())
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: MAX_NAME - len(ext) - 1] + dot + ext) if dot and len(ext) < 16 else name[:MAX_NAME]
    return name if name.strip(" .") else FALLBACK_NAME


def content_disposition(disposition: str, name: str) -> str:
    """``attachment; filename="..."; filename*=UTF-8''...``: an ASCII fallback for old clients, the real name
    percent-encoded for the rest. Neither can end the header or open a new parameter."""
    fallback = "".join(ch if " " <= ch <= "~" and ch not in '"\\%;' else "_" for ch in name) or FALLBACK_NAME
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe=_ATTR_CHARS)}"
