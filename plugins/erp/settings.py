"""The ERP plugin's settings, checked before the host registers the plugin."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kefu_host.sdk import flag, http_url, reject_unknown, require_loopback, seconds, text

DEFAULT_BASE_URL = "http://127.0.0.1:8090"
KNOWN_SETTINGS = ("base_url", "token", "timeout", "simulator")


@dataclass(frozen=True)
class ErpSettings:
    base_url: str = DEFAULT_BASE_URL
    #: Sent as ``Authorization: Bearer <token>``; empty sends no Authorization header.
    token: str = ""
    #: Seconds one ERP request may take, connecting included. Keep it below the plugin's hook_timeout.
    timeout: float = 3.0
    #: Serve the bundled ERP simulator on ``base_url`` (a loopback address) inside the host.
    simulator: bool = False


def parse_settings(raw: Mapping[str, Any]) -> ErpSettings:
    """Validated settings; raises ValueError naming the setting that is wrong."""
    reject_unknown(raw, KNOWN_SETTINGS)
    base_url = http_url(raw, "base_url", DEFAULT_BASE_URL)
    simulator = flag(raw, "simulator")
    if simulator:
        require_loopback("base_url", base_url, "the ERP simulator (simulator = true)")
    return ErpSettings(
        base_url=base_url,
        token=text(raw, "token"),
        timeout=seconds(raw, "timeout", 3.0, at_most=300),
        simulator=simulator,
    )
