"""Satisfaction ratings: a visitor scores a closed conversation 1 to 5, with an optional comment.

A rating is taken only for the visitor's own (their customer's) conversation, once it is closed, and until
``chat.rating_window`` seconds after it closed; within that time a new rating replaces the previous one (a mis-tap
on a phone is common, and the webhook of each change carries the one it replaced). Reopening the conversation clears
its rating: the next close asks again. Each rating is written with its ``conversation.rated`` webhook deliveries in
one transaction (the outbox), then announced to the visitor's tabs and to the agent who held the conversation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kefu_host.chat.broker import agent_topic, customer_topic
from kefu_host.chat.hub import Hub
from kefu_host.chat.protocol import FrameError, frame, int_field, optional_text
from kefu_host.chat.repo import ChatRepo, conversation_view
from kefu_host.chat.values import ConversationView, RatingView
from kefu_host.inputs import IntRange
from kefu_host.store import Store
from kefu_host.store.models import Conversation, WebhookDelivery, utcnow
from kefu_host.webhooks import events

SCORES = IntRange(1, 5)
MAX_COMMENT_CHARS = 1000


@dataclass(frozen=True, slots=True)
class Score:
    """A rating as the visitor sent it, checked but not stored yet."""

    score: int
    comment: str | None

    def at(self, when: datetime) -> RatingView:
        return RatingView(self.score, self.comment, when)


@dataclass(frozen=True, slots=True)
class Rated:
    conversation: ConversationView
    rating: RatingView
    previous: RatingView | None
    #: The agent who held the conversation when it closed (None when it closed while waiting in a queue).
    agent_id: int | None


def parse_score(data: dict[str, Any]) -> Score:
    """``score`` (an integer 1-5) and the optional ``comment`` of a ``rate`` or ``close`` frame."""
    score = int_field(data, "score", SCORES)
    assert score is not None
    return Score(score, optional_text(data, "comment", max_len=MAX_COMMENT_CHARS))


def rate_until(closed_at: datetime | None, window: float) -> datetime | None:
    """Until when a conversation closed at ``closed_at`` may be rated; None when it may not be."""
    if closed_at is None or window <= 0:
        return None
    return closed_at + timedelta(seconds=window)


def rating_of(row: Any) -> RatingView | None:
    """The rating stored on a conversation row, if it has one."""
    if row.rating is None or row.rated_at is None:
        return None
    return RatingView(row.rating, row.rating_comment, row.rated_at)


@dataclass(frozen=True, slots=True)
class StoredRating:
    rating: RatingView | None
    rate_until: datetime | None


async def read_rating(store: Store, conversation_id: int, window: float) -> StoredRating:
    """A closed conversation's rating and until when it may be rated (for a visitor's welcome, the details page)."""
    async with store.read() as conn:
        row = (
            await conn.execute(
                select(Conversation.status, Conversation.closed_at, Conversation.rating, Conversation.rating_comment,
                       Conversation.rated_at).where(Conversation.id == conversation_id)
            )
        ).first()
    if row is None:
        return StoredRating(None, None)
    until = rate_until(row.closed_at, window) if row.status == "closed" else None
    return StoredRating(rating_of(row), until)


async def store_rating(
    repo: ChatRepo, conversation_id: int, customer_id: int, score: Score, window: float
) -> Rated:
    """Store the rating, if the customer may rate that conversation now; the refusal is a :class:`FrameError`."""
    now = utcnow()
    rating = score.at(now)

    async def write(conn: AsyncConnection) -> tuple[Rated, bool]:
        # locked, so a rating and the visitor's message reopening the conversation cannot interleave
        row = (
            await conn.execute(select(Conversation).where(Conversation.id == conversation_id).with_for_update())
        ).first()
        if row is None or row.customer_id != customer_id:  # one answer for both: ids cannot be probed
            raise FrameError("forbidden", f"conversation {conversation_id} is not yours to rate")
        if row.status != "closed":
            raise FrameError("not_closed", f"conversation {conversation_id} is still open; rate it once it has closed")
        until = rate_until(row.closed_at, window)
        if until is None:
            raise FrameError("rating_closed", "this host does not take ratings")
        if now > until:
            raise FrameError("rating_closed",
                             f"conversation {conversation_id} could be rated until {until.isoformat()}")
        await conn.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id)
            .values(rating=rating.score, rating_comment=rating.comment, rated_at=now, updated_at=now)
        )
        rated = Rated(conversation_view(row), rating, rating_of(row), row.agent_id)
        deliveries = repo.outbox.rows(events.rated(rated.conversation, rating, rated.previous, row.closed_by), now)
        if deliveries:
            await conn.execute(insert(WebhookDelivery), deliveries)
        return rated, bool(deliveries)

    rated, recorded = await repo.store.writer.transaction(write)
    if recorded:
        repo.outbox.recorded()
    return rated


def rated_frame(conversation_id: int, rating: RatingView) -> dict[str, Any]:
    return {"type": "rated", "conversation_id": conversation_id, "rating": rating.to_dict()}


async def rate(repo: ChatRepo, hub: Hub, customer_id: int, conversation_id: int, score: Score, window: float) -> Rated:
    """Store a visitor's rating, then tell every tab of the visitor and the agent who held the conversation."""
    rated = await store_rating(repo, conversation_id, customer_id, score, window)
    announced = frame(rated_frame(conversation_id, rated.rating))
    hub.publish(customer_topic(customer_id), announced)
    if rated.agent_id is not None:
        hub.publish(agent_topic(rated.agent_id), announced)
    return rated
