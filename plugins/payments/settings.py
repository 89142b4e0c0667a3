"""The payments plugin's settings, checked before the host registers the plugin."""

from __future__ import annotations

import difflib
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from yarl import URL

DEFAULT_PROVIDER_URL = "http://127.0.0.1:8091"
DEFAULT_DSN = "sqlite+aiosqlite:///data/payments.db"
KNOWN_SETTINGS = ("provider_url", "api_key", "timeout", "dsn", "facts_ttl")
#: Async drivers, with the package each one needs.
DRIVERS: Mapping[str, str] = {
    "sqlite+aiosqlite": "aiosqlite",
    "mysql+aiomysql": "aiomysql",
    "mariadb+aiomysql": "aiomysql",
    "postgresql+asyncpg": "asyncpg",
}


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


def parse_settings(raw: Mapping[str, Any]) -> PaymentsSettings:
    """Validated settings; raises ValueError naming the setting that is wrong."""
    for key in raw:
        if key not in KNOWN_SETTINGS:
            close = difflib.get_close_matches(key, KNOWN_SETTINGS, n=1)
            hint = f", did you mean {close[0]!r}?" if close else f"; known: {', '.join(KNOWN_SETTINGS)}"
            raise ValueError(f"unknown setting {key!r}{hint}")
    provider_url = raw.get("provider_url", DEFAULT_PROVIDER_URL)
    url = URL(provider_url) if isinstance(provider_url, str) else None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise ValueError(
            f"provider_url: expected an http(s) URL like {DEFAULT_PROVIDER_URL}, got {provider_url!r}"
        )
    api_key = raw.get("api_key", "")
    if not isinstance(api_key, str):
        raise ValueError("api_key: expected a string")  # noqa: TRY004 - every bad setting is a ValueError
    timeout = raw.get("timeout", 4.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 300:
        raise ValueError(f"timeout: expected seconds between 0 and 300, got {timeout!r}")
    ttl = raw.get("facts_ttl", 5.0)
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl < 0:
        raise ValueError(f"facts_ttl: expected a number of seconds >= 0, got {ttl!r}")
    dsn = raw.get("dsn", DEFAULT_DSN)
    _check_dsn(dsn)
    return PaymentsSettings(
        provider_url=provider_url.rstrip("/"),
        api_key=api_key,
        timeout=float(timeout),
        dsn=dsn,
        facts_ttl=float(ttl),
    )


def _check_dsn(dsn: Any) -> None:
    if not isinstance(dsn, str) or not dsn:
        raise ValueError(f"dsn: expected a SQLAlchemy URL string, got {dsn!r}")
    try:
        url = make_url(dsn)
    except ArgumentError as exc:
        raise ValueError(f"dsn: not a database URL: {exc}") from None
    package = DRIVERS.get(url.drivername)
    if package is None:
        raise ValueError(f"dsn: driver {url.drivername!r} is not supported; use one of {', '.join(DRIVERS)}")
    if importlib.util.find_spec(package) is None:
        raise ValueError(f"dsn: {url.drivername} needs the {package!r} package (pip install {package})")
    if url.drivername.startswith("sqlite") and not url.database:
        raise ValueError(f"dsn: a SQLite URL needs a file, like {DEFAULT_DSN}")
