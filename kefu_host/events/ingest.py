"""Accepting events: validate, record and apply each in one transaction, then the effects.

The same path serves ``POST /api/events``, the batch endpoint and the Redis Stream source. An event id is recorded
in ``processed_events`` in the very transaction that applies it (:mod:`kefu_host.events.record`), so a repeated
event (also two copies arriving at once, also on several processes) has no second effect.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import structlog

from kefu_host.events.effects import Effects
from kefu_host.events.record import Outcome, Pending, RecordEvents
from kefu_host.events.types import Event
from kefu_host.events.validation import InvalidEvent, Validators
from kefu_host.store import Store

log = structlog.get_logger("kefu_host.events")


class Ingestor:
    def __init__(self, store: Store, validators: Validators, effects: Effects) -> None:
        self.store = store
        self.validators = validators
        self.effects = effects
        self.kind = RecordEvents()

    def parse(self, source: str, envelopes: Sequence[Any], *, batch: bool = False) -> list[Pending]:
        """Validate every envelope and work out its change first: one bad event refuses the request before anything
        is stored."""
        pending = []
        for n, envelope in enumerate(envelopes):
            prefix = f"events[{n}]." if batch else ""
            event_id, kind, occurred_at, data = self.validators.check(envelope, prefix)
            event = Event(event_id, kind, occurred_at, data, source)
            event_type = self.validators.types[kind]
            try:
                change = event_type.change(event) if event_type.change else None
            except InvalidEvent as exc:
                raise InvalidEvent(prefix + exc.field, exc.message) from None
            uid = data.get(event_type.customer_field) if event_type.customer_field else None
            pending.append(Pending(event, uid if isinstance(uid, str) else None, change))
        return pending

    async def ingest(self, pending: Sequence[Pending]) -> list[Outcome]:
        """Record and apply the events (batched by the group-commit writer), then their effects.

        Raises :class:`~kefu_host.store.StoreUnavailable` if the store cannot take them (some may be stored: a retry
        finds those as duplicates).
        """
        if len(pending) == 1:  # the usual request: no gather needed
            try:
                outcomes: list[Any] = [await self.store.writer.submit(self.kind, pending[0])]
            except Exception as exc:
                outcomes = [exc]
        else:
            outcomes = await asyncio.gather(
                *(self.store.writer.submit(self.kind, p) for p in pending), return_exceptions=True
            )
        for item, outcome in zip(pending, outcomes, strict=True):
            if isinstance(outcome, Outcome) and outcome.status == "accepted":
                await self.effects.after(item.event, outcome.customer, outcome.changed)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return list(outcomes)  # type: ignore[arg-type]


__all__ = ["Ingestor", "InvalidEvent", "Outcome"]
