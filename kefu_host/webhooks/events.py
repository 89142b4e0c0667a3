"""The events the host sends to webhook endpoints, and which endpoint wants which.

One :class:`Event` becomes one delivery per subscribed endpoint. The envelope is what the receiver gets as the
request body; its ``id`` is the event's (shared by every endpoint's copy), while the ``webhook-id`` header carries the
delivery's id (stable across retries of that copy), which is what a receiver de-duplicates on.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kefu_host.chat.values import AgentView, ConversationView, MessageView, RatingView
from kefu_host.config import WebhookEndpoint

CONVERSATION_CREATED = "conversation.created"
CONVERSATION_REOPENED = "conversation.reopened"
CONVERSATION_ASSIGNED = "conversation.assigned"
CONVERSATION_TRANSFERRED = "conversation.transferred"
CONVERSATION_CLOSED = "conversation.closed"
CONVERSATION_RATED = "conversation.rated"
MESSAGE_CREATED = "message.created"

EVENT_TYPES: tuple[str, ...] = (
    CONVERSATION_CREATED,
    CONVERSATION_REOPENED,
    CONVERSATION_ASSIGNED,
    CONVERSATION_TRANSFERRED,
    CONVERSATION_CLOSED,
    CONVERSATION_RATED,
    MESSAGE_CREATED,
)
#: Subscribes an endpoint to every type, including types added later.
ALL = "*"


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    type: str
    occurred_at: datetime
    data: dict[str, Any]

    def envelope(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "occurred_at": self.occurred_at.isoformat(),
            "data": self.data,
        }


@dataclass(frozen=True, slots=True)
class Change:
    """A change the outbox may have to report: its event type and how to build the event's data (only when an
    endpoint subscribes to the type)."""

    type: str
    data: Callable[[], dict[str, Any]]


def new_event(event_type: str, occurred_at: datetime, data: dict[str, Any]) -> Event:
    return Event(id=f"evt_{uuid.uuid4().hex}", type=event_type, occurred_at=occurred_at, data=data)


def new_delivery_id() -> str:
    return f"dlv_{uuid.uuid4().hex}"


def subscribed(endpoint: WebhookEndpoint, event_type: str) -> bool:
    return ALL in endpoint.events or event_type in endpoint.events


def unknown_types(endpoint: WebhookEndpoint) -> list[str]:
    """Subscriptions naming no event type (a typo would otherwise silently receive nothing)."""
    return [t for t in endpoint.events if t != ALL and t not in EVENT_TYPES]


# --- the data of each event type --------------------------------------------------------------------------------


def conversation_data(conversation: ConversationView) -> dict[str, Any]:
    data = conversation.to_dict()
    data["created_at"] = conversation.created_at.isoformat()
    return {"conversation": data}


def assigned_data(conversation: ConversationView, agent: AgentView) -> dict[str, Any]:
    agent_data = {"id": agent.id, "name": agent.name, "teams": list(agent.teams)}
    return {**conversation_data(conversation), "agent": agent_data}


def transferred_data(
    conversation: ConversationView, from_team: str | None, to_team: str, reason: str
) -> dict[str, Any]:
    return {**conversation_data(conversation), "from_team": from_team, "to_team": to_team, "reason": reason}


def _rating(rating: RatingView | None) -> dict[str, Any] | None:
    return rating.to_dict() if rating is not None else None


def closed_data(
    conversation: ConversationView,
    closed_by: str,
    rating: RatingView | None = None,
    rate_until: datetime | None = None,
) -> dict[str, Any]:
    return {**conversation_data(conversation), "closed_by": closed_by, "rating": _rating(rating),
            "rate_until": rate_until.isoformat() if rate_until else None}


def rated_data(
    conversation: ConversationView, rating: RatingView, previous: RatingView | None, closed_by: str | None
) -> dict[str, Any]:
    return {**conversation_data(conversation), "rating": rating.to_dict(), "previous": _rating(previous),
            "closed_by": closed_by}


def message_data(conversation: ConversationView, message: MessageView) -> dict[str, Any]:
    body = message.to_frame()
    body.pop("type")  # the frame's own discriminator; the envelope already says what this is
    return {**conversation_data(conversation), "message": body}


# --- the changes the chat core reports, one constructor per event type ------------------------------------------


def opened(conversation: ConversationView, reopened: bool) -> Change:
    kind = CONVERSATION_REOPENED if reopened else CONVERSATION_CREATED
    return Change(kind, lambda: conversation_data(conversation))


def assigned(conversation: ConversationView, agent: AgentView) -> Change:
    return Change(CONVERSATION_ASSIGNED, lambda: assigned_data(conversation, agent))


def transferred(conversation: ConversationView, from_team: str | None, to_team: str, reason: str) -> Change:
    return Change(CONVERSATION_TRANSFERRED, lambda: transferred_data(conversation, from_team, to_team, reason))


def closed(
    conversation: ConversationView,
    closed_by: str,
    rating: RatingView | None = None,
    rate_until: datetime | None = None,
) -> Change:
    return Change(CONVERSATION_CLOSED, lambda: closed_data(conversation, closed_by, rating, rate_until))


def rated(
    conversation: ConversationView, rating: RatingView, previous: RatingView | None, closed_by: str | None
) -> Change:
    return Change(CONVERSATION_RATED, lambda: rated_data(conversation, rating, previous, closed_by))
