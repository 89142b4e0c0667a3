"""Accepting events: validate, record and apply them in one transaction, then the effects.

The same path serves ``POST /api/events``, the batch endpoint and the Redis Stream source. An event id is recorded
in ``processed_events`` in the very transaction that applies it (:mod:`kefu_host.events.record`), so a repeated
event (also two copies arriving at once, also on several processes) has no second effect. The events of one request
are recorded together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import structlog

from kefu_host.events.effects import Effects
from kefu_host.events.record import Outcome, Pending, RecordEvents
from kefu_host.events.types import Event
from kefu_host.events.validation import InvalidEvent, Validators
from kefu_host.metrics import MetricsOff
from kefu_host.store import Store

log = structlog.get_logger("kefu_host.events")


class Ingestor:
    def __init__(self, store: Store, validators: Validators, effects: Effects) -> None:
        self.store = store
        self.validators = validators
        self.effects = effects
        self.kind = RecordEvents()
        self.metrics = MetricsOff()

    def parse(
        self, source: str, envelopes: Sequence[Any], *, batch: bool = False, raw: bytes | None = None
    ) -> list[Pending]:
        """Validate every envelope and work out its change first: one bad event refuses the request before anything
        is stored. ``raw`` is the JSON text the envelopes were read from (it makes the checks for NUL and nesting
        cheap)."""
        pending = []
        now = datetime.now(UTC)
        for n, envelope in enumerate(envelopes):
            prefix = f"events[{n}]." if batch else ""
            event_id, kind, occurred_at, data = self.validators.check(envelope, prefix, now, text=raw)
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
        """Record and apply the events together (in a batch of the group-commit writer), then their effects.

        All or nothing: raises :class:`~kefu_host.store.StoreBusy` at once when the writer's events lane is full,
        :class:`~kefu_host.store.StoreUnavailable` if the store cannot take them, or
        :class:`InvalidEvent` for an event that only the stored customer shows to be wrong (an LTV past its
        maximum); then none of them is stored.
        """
        outcomes: list[Outcome] = await self.store.writer.submit(self.kind, tuple(pending), weight=len(pending))
        for item, outcome in zip(pending, outcomes, strict=True):
            self.metrics.event(item.event.type, outcome.status)
            if outcome.status == "accepted":
                await self.effects.after(item.event, outcome.customer, outcome.changed)
        return outcomes


__all__ = ["Ingestor", "InvalidEvent", "Outcome"]
