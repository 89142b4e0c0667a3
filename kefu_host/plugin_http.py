"""Reading the answers of the external HTTP APIs plugins talk to (an ERP, a payment provider)."""

from __future__ import annotations

import json
from typing import Any


def json_body(raw: bytes) -> Any:
    """The answer's JSON, or None when it is empty or not JSON."""
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def error_message(data: Any) -> str | None:
    """The API's ``{"error": {"message": ...}}`` (or ``{"message": ...}``), if it sent one, at most 500 characters."""
    if isinstance(data, dict):
        error = data.get("error")
        message = error.get("message") if isinstance(error, dict) else data.get("message")
        if isinstance(message, str) and message:
            return message[:500]
    return None
