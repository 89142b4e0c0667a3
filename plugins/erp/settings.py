"""The ERP plugin's settings, checked before the host registers the plugin."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kefu_host.sdk import http_url, reject_unknown, seconds, text

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
    reject_unknown(raw, KNOWN_SETTINGS)
    return ErpSettings(
        base_url=http_url(raw, "base_url", DEFAULT_BASE_URL),
        token=text(raw, "token"),
        timeout=seconds(raw, "timeout", 3.0, at_most=300),
    )
