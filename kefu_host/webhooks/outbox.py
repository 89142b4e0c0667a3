"""The transactional outbox: a chat change and the webhook deliveries that report it commit together.

The chat store asks the :class:`Outbox` for the delivery rows of each change while it writes the change, and
inserts them in the same transaction, so a crash can never keep the one without the other. After the commit it
calls :meth:`Outbox.recorded`, which wakes the delivery worker.

The outbox records nothing until the webhooks plugin :meth:`opens <Outbox.open>` it with the endpoints subscribed
to each event type (a host without endpoints, or with the plugin blocked, never opens it). A type nobody
subscribes to costs one dictionary lookup and no data is built: ``message.created`` happens for every chat message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from kefu_host.webhooks.events import MESSAGE_CREATED, Change, Event, new_delivery_id, new_event

__all__ = ["Change", "Outbox", "Target", "delivery_rows"]

#: An endpoint a delivery goes to: (endpoint name, url).
Target = tuple[str, str]


def delivery_rows(event: Event, targets: Sequence[Target]) -> list[dict[str, Any]]:
    """One pending delivery of ``event`` per target, due at once, as ``webhook_deliveries`` rows."""
    payload = event.envelope()
    return [
        {
            "id": new_delivery_id(),
            "endpoint": name,
            "url": url,
            "event_type": event.type,
            "payload": payload,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": event.occurred_at,
            "created_at": event.occurred_at,
        }
        for name, url in targets
    ]


class Outbox:
    """Which endpoints want which event type, and the delivery rows of a change for them."""

    def __init__(self) -> None:
        self._targets: dict[str, tuple[Target, ...]] = {}
        self._wake: Callable[[], None] | None = None
        #: The endpoints subscribed to ``message.created``: read for every batch of stored chat messages.
        self.message_targets: tuple[Target, ...] = ()

    def open(self, targets: Mapping[str, Sequence[Target]], wake: Callable[[], None]) -> None:
        """Start recording: ``targets`` maps each event type to its subscribers; ``wake`` runs after each commit."""
        self._targets = {t: tuple(subscribers) for t, subscribers in targets.items() if subscribers}
        self.message_targets = self._targets.get(MESSAGE_CREATED, ())
        self._wake = wake

    def targets(self, event_type: str) -> tuple[Target, ...]:
        return self._targets.get(event_type, ())

    def rows(self, change: Change | None, occurred_at: datetime) -> list[dict[str, Any]]:
        """The delivery rows reporting ``change``; empty (and its data never built) when nobody subscribes."""
        if change is None:
            return []
        targets = self._targets.get(change.type)
        if not targets:
            return []
        return delivery_rows(new_event(change.type, occurred_at, change.data()), targets)

    def recorded(self) -> None:
        """Delivery rows were committed: let the worker send them now rather than at its next poll."""
        if self._wake is not None:
            self._wake()
