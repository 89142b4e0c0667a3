"""Event types and events: what a business system may send, and one accepted event."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

#: Applies an event inside the transaction that records it; returns the customer fields it changed.
Apply = Callable[[AsyncConnection, "Event", int | None], Awaitable[frozenset[str]]]


@dataclass(frozen=True, slots=True)
class Event:
    """An accepted event: the envelope's fields plus the source that sent it."""

    id: str
    type: str
    occurred_at: datetime
    data: Mapping[str, Any]
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "occurred_at": self.occurred_at.isoformat(), "data": dict(self.data),
                "source": self.source}


@dataclass(frozen=True)
class EventType:
    """An event type the host accepts.

    ``schema`` is a JSON Schema (draft 2020-12) for ``data``. ``customer_field`` names the key of ``data`` holding the
    customer's business user id (None when the event is not about one customer). ``apply`` runs in the same
    transaction as the record that makes the event id unique, so its effect happens exactly once.
    """

    name: str
    schema: Mapping[str, Any]
    description: str = ""
    customer_field: str | None = "uid"
    apply: Apply | None = field(default=None, compare=False)
