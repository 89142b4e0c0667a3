"""Signed business events for tests and for integrators trying the API."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from kefu_host.events.signing import sign

_counter = itertools.count(1)


def envelope(event_type: str, data: dict[str, Any], *, event_id: str | None = None,
             occurred_at: datetime | str | None = None) -> dict[str, Any]:
    when = occurred_at or datetime.now(UTC)
    return {
        "id": event_id or f"evt_{next(_counter)}_{uuid.uuid4().hex[:8]}",
        "type": event_type,
        "occurred_at": when if isinstance(when, str) else when.isoformat(),
        "data": data,
    }


def signed(secret: str | list[str], payload: Any, msg_id: str | None = None) -> tuple[bytes, dict[str, str]]:
    """The body and the Standard Webhooks headers for ``payload``."""
    body = orjson.dumps(payload)
    if msg_id is None:
        given = payload.get("id") if isinstance(payload, dict) else None
        msg_id = given if isinstance(given, str) and given else f"msg_{uuid.uuid4().hex}"
    headers = sign(secret, msg_id, body)
    headers["Content-Type"] = "application/json"
    return body, headers
