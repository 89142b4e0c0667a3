"""Checking a plugin's settings: each helper raises ValueError naming the setting, as ``kefu_plugin`` should.

For plugins: ``from kefu_host.plugin_settings import reject_unknown, http_url, seconds, text``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from yarl import URL


def reject_unknown(raw: Mapping[str, Any], known: Sequence[str]) -> None:
    """A setting the plugin does not read is an error, with a "did you mean" for a typo."""
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f", did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}"
            raise ValueError(f"unknown setting {key!r}{hint}")


def http_url(raw: Mapping[str, Any], key: str, default: str) -> str:
    """An http(s) base URL without a trailing slash."""
    value = raw.get(key, default)
    url = URL(value) if isinstance(value, str) else None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"{key}: expected an http(s) URL like {default}, got {value!r}")
    return str(value).rstrip("/")


def text(raw: Mapping[str, Any], key: str, default: str = "") -> str:
    value = raw.get(key, default)
    if not isinstance(value, str):
        raise ValueError(f"{key}: expected a string")  # noqa: TRY004 - every bad setting is a ValueError
    return value


def seconds(raw: Mapping[str, Any], key: str, default: float, *, at_most: float | None = None) -> float:
    """A number of seconds: greater than 0 (and at most ``at_most``) when bounded, else at least 0."""
    value = raw.get(key, default)
    number = not isinstance(value, bool) and isinstance(value, int | float)
    if at_most is not None:
        if not number or not 0 < value <= at_most:
            raise ValueError(f"{key}: expected seconds between 0 and {at_most:g}, got {value!r}")
    elif not number or value < 0:
        raise ValueError(f"{key}: expected a number of seconds >= 0, got {value!r}")
    return float(value)


def flag(raw: Mapping[str, Any], key: str, default: bool = False) -> bool:
    """``true`` or ``false`` (TOML booleans; an environment variable's ``true``/``false`` reads as one)."""
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise ValueError(f"{key}: expected true or false, got {value!r}")
    return value
