"""Event types and events: what a business system may send, and one accepted event."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from kefu_host.events.changes import CustomerChange


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

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON text, without the intermediate copies (orjson writes the time as isoformat())."""
        return orjson.dumps({"id": self.id, "type": self.type, "occurred_at": self.occurred_at, "data": self.data,
                             "source": self.source}, default=dict).decode()


@dataclass(frozen=True)
class EventType:
    """An event type the host accepts.

    ``schema`` is a JSON Schema (draft 2020-12) for ``data``. ``customer_field`` names the key of ``data`` holding the
    customer's business user id (None when the event is not about one customer). ``change`` says what the event does
    to that customer (a pure function of the event, see :mod:`kefu_host.events.changes`); the host applies it in the
    transaction that records the event id, so it happens exactly once. It may raise
    :class:`~kefu_host.events.validation.InvalidEvent`, which refuses the event before anything is stored.
    """

    name: str
    schema: Mapping[str, Any]
    description: str = ""
    customer_field: str | None = "uid"
    change: Callable[[Event], CustomerChange] | None = field(default=None, compare=False)
