"""The ERP plugin's settings, checked before the host registers the plugin."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from yarl import URL

DEFAULT_BASE_URL = "http://127.0.0.1:8090"
KNOWN_SETTINGS = ("base_url", "token", "timeout")


@dataclass(frozen=True)
class ErpSettings:
    base_url: str = DEFAULT_BASE_URL
    #: Sent as ``Authorization: Bearer <token>``; empty sends no Authorization header.
    token: str = ""
    #: Seconds one ERP request may take, connecting included. Keep it below the plugin's hook_timeout.
    timeout: float = 3.0


def parse_settings(raw: Mapping[str, Any]) -> ErpSettings:
    """Validated settings; raises ValueError naming the setting that is wrong."""
    for key in raw:
        if key not in KNOWN_SETTINGS:
            close = difflib.get_close_matches(key, KNOWN_SETTINGS, n=1)
            hint = f", did you mean {close[0]!r}?" if close else f"; known: {', '.join(KNOWN_SETTINGS)}"
            raise ValueError(f"unknown setting {key!r}{hint}")
    base_url = raw.get("base_url", DEFAULT_BASE_URL)
    url = URL(base_url) if isinstance(base_url, str) else None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"base_url: expected an http(s) URL like {DEFAULT_BASE_URL}, got {base_url!r}")
    token = raw.get("token", "")
    if not isinstance(token, str):
        raise ValueError("token: expected a string")  # noqa: TRY004 - every bad setting is a ValueError
    timeout = raw.get("timeout", 3.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 300:
        raise ValueError(f"timeout: expected seconds between 0 and 300, got {timeout!r}")
    return ErpSettings(base_url=base_url.rstrip("/"), token=token, timeout=float(timeout))
