"""Accepting events: validate, record and apply each in one transaction, then the effects.

The same path serves ``POST /api/events``, the batch endpoint and the Redis Stream source. An event id is recorded
in ``processed_events`` with its primary key (source, id) in the very transaction that applies it, so a repeated
event (also two copies arriving at once, also on several processes) has no second effect.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from kefu_host.customers import ensure_uid
from kefu_host.events.effects import Effects
from kefu_host.events.types import Event
from kefu_host.events.validation import InvalidEvent, Validators
from kefu_host.store import Store
from kefu_host.store.dialect import insert_ignore
from kefu_host.store.models import ProcessedEvent, utcnow

log = structlog.get_logger("kefu_host.events")


@dataclass(frozen=True, slots=True)
class Outcome:
    id: str
    status: Literal["accepted", "duplicate"]
    customer_id: int | None = None
    changed: frozenset[str] = frozenset()

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status}


class Ingestor:
    def __init__(self, store: Store, validators: Validators, effects: Effects) -> None:
        self.store = store
        self.validators = validators
        self.effects = effects

    def parse(self, source: str, envelopes: Sequence[Any], *, batch: bool = False) -> list[Event]:
        """Validate every envelope first: one bad event refuses the request before anything is stored."""
        events = []
        for n, envelope in enumerate(envelopes):
            prefix = f"events[{n}]." if batch else ""
            event_id, kind, occurred_at, data = self.validators.check(envelope, prefix)
            events.append(Event(event_id, kind, occurred_at, data, source))
        return events

    async def ingest(self, events: Sequence[Event]) -> list[Outcome]:
        """Record and apply each event (in parallel transactions of the group-commit writer), then its effects.

        Raises :class:`~kefu_host.store.StoreUnavailable` if the store cannot take them (some may be stored: a retry
        finds those as duplicates) and :class:`InvalidEvent` for an event its type's ``apply`` refuses.
        """
        outcomes = await asyncio.gather(*(self.store.writer.transaction(self._recorder(e)) for e in events),
                                        return_exceptions=True)
        for event, outcome in zip(events, outcomes, strict=True):
            if isinstance(outcome, Outcome) and outcome.status == "accepted":
                await self.effects.after(event, outcome.customer_id, outcome.changed)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return list(outcomes)  # type: ignore[arg-type]

    def _recorder(self, event: Event) -> Any:
        event_type = self.validators.types[event.type]

        async def record(conn: AsyncConnection) -> Outcome:
            uid = event.data.get(event_type.customer_field) if event_type.customer_field else None
            fresh = await insert_ignore(
                conn,
                ProcessedEvent,
                {"source": event.source, "event_id": event.id, "type": event.type, "occurred_at": event.occurred_at,
                 "received_at": utcnow(), "customer_uid": uid, "payload": event.to_dict()},
                ["source", "event_id"],
            )
            if not fresh:
                return Outcome(event.id, "duplicate")
            customer_id = await ensure_uid(conn, uid) if uid else None
            changed = await event_type.apply(conn, event, customer_id) if event_type.apply else frozenset()
            return Outcome(event.id, "accepted", customer_id, changed)

        return record


__all__ = ["Ingestor", "InvalidEvent", "Outcome"]
