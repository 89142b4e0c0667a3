"""The payments plugin's settings, checked before the host registers the plugin."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kefu_host.sdk import check_dsn, flag, http_url, reject_unknown, require_loopback, seconds, text

DEFAULT_PROVIDER_URL = "http://127.0.0.1:8091"
DEFAULT_DSN = "sqlite+aiosqlite:///data/payments.db"
KNOWN_SETTINGS = ("provider_url", "api_key", "timeout", "dsn", "facts_ttl", "sandbox")


@dataclass(frozen=True)
class PaymentsSettings:
    provider_url: str = DEFAULT_PROVIDER_URL
    #: Sent as ``Authorization: Bearer <api_key>``; empty sends no Authorization header.
    api_key: str = ""
    #: Seconds one provider request may take. Keep it below the plugin's hook_timeout.
    timeout: float = 4.0
    dsn: str = DEFAULT_DSN
    #: Seconds a customer's failure count may be served from memory (another process may have written since).
    facts_ttl: float = 5.0
    #: Serve the bundled payment sandbox on ``provider_url`` (a loopback address) inside the host.
    sandbox: bool = False


def parse_settings(raw: Mapping[str, Any]) -> PaymentsSettings:
    """Validated settings; raises ValueError naming the setting that is wrong."""
    reject_unknown(raw, KNOWN_SETTINGS)
    dsn = raw.get("dsn", DEFAULT_DSN)
    check_dsn("dsn", dsn, DEFAULT_DSN)
    provider_url = http_url(raw, "provider_url", DEFAULT_PROVIDER_URL)
    sandbox = flag(raw, "sandbox")
    if sandbox:
        require_loopback("provider_url", provider_url, "the payment sandbox (sandbox = true)")
    return PaymentsSettings(
        provider_url=provider_url,
        sandbox=sandbox,
        api_key=text(raw, "api_key"),
        timeout=seconds(raw, "timeout", 4.0, at_most=300),
        dsn=dsn,
        facts_ttl=seconds(raw, "facts_ttl", 5.0),
    )
