"""The cluster's singletons as idempotent claims: whichever node's statement changes a row does the work that follows.

Every node runs these on its sweep. ``UPDATE ... WHERE status = ... RETURNING`` changes each row once, so exactly one
node gets it back and goes on to announce it, fire hooks and refill agents; the webhook deliveries are inserted in
the claim's own transaction (the outbox), so each change is reported once, by the winner, or not at all.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, func, insert, literal, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kefu_host.chat.repo import conversation_view
from kefu_host.chat.values import ConversationView
from kefu_host.store import Store
from kefu_host.store.models import Agent, AgentSession, Conversation, WebhookDelivery
from kefu_host.webhooks import events as webhook
from kefu_host.webhooks.outbox import Outbox

_COLUMNS = tuple(Conversation.__table__.columns)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def _report(conn: AsyncConnection, outbox: Outbox, rows: list[dict[str, Any]]) -> bool:
    if rows:
        await conn.execute(insert(WebhookDelivery), rows)
    return bool(rows)


async def expire_sessions(store: Store, now: datetime, ttl: float) -> list[int]:
    """Remove sessions of dead nodes (no heartbeat for ``ttl``); their agents were last seen at that heartbeat.
    Returns the agents whose sessions this node removed."""
    async with store.engines.write.begin() as conn:
        gone = (await conn.execute(
            delete(AgentSession).where(AgentSession.heartbeat_at < now - timedelta(seconds=ttl))
            .returning(AgentSession.agent_id, AgentSession.heartbeat_at)
        )).all()
        last: dict[int, datetime] = {}
        for agent_id, beat in gone:
            last[agent_id] = max(beat, last.get(agent_id, beat))
        for agent_id, beat in sorted(last.items()):  # agent rows in id order: no lock cycle between nodes
            await conn.execute(update(Agent).where(Agent.id == agent_id).values(
                last_seen_at=func.greatest(func.coalesce(Agent.last_seen_at, beat), beat)))
    return sorted(last)


async def claim_requeue(store: Store, outbox: Outbox, now: datetime, grace: float) -> list[tuple[ConversationView, int]]:
    """Conversations of agents with no session anywhere, last seen more than ``grace`` ago, back to their queue
    (keeping their place). Returns (conversation as re-queued, its previous agent), each to exactly one node."""
    cutoff = now - timedelta(seconds=grace)
    async with store.engines.write.begin() as conn:
        rows = (await conn.execute(
            update(Conversation)
            .where(Conversation.status == "assigned", Conversation.agent_id == Agent.id,
                   ~exists().where(AgentSession.agent_id == Conversation.agent_id),
                   func.coalesce(Agent.last_seen_at, literal(_EPOCH, Conversation.updated_at.type)) < cutoff)
            .values(status="queued", agent_id=None, updated_at=now)
            .returning(*_COLUMNS, Agent.id.label("previous_agent"))
        )).all()
        claimed = [(conversation_view(r), int(r.previous_agent)) for r in rows]
        deliveries = [d for view, _ in claimed
                      for d in outbox.rows(webhook.transferred(view, view.team, view.team, "requeue"), now)]
        recorded = await _report(conn, outbox, deliveries)
    if recorded:
        outbox.recorded()
    return claimed


async def claim_idle(store: Store, outbox: Outbox, now: datetime, idle: float,
                     rate_until: datetime | None) -> list[ConversationView]:
    """Assigned conversations without a message for ``idle`` seconds, closed by "idle"; each to exactly one node."""
    cutoff = now - timedelta(seconds=idle)
    activity = func.coalesce(Conversation.last_message_at, Conversation.assigned_at, Conversation.created_at)
    async with store.engines.write.begin() as conn:
        rows = (await conn.execute(
            update(Conversation)
            .where(Conversation.status == "assigned", activity < cutoff)
            .values(status="closed", closed_at=now, closed_by="idle", updated_at=now)
            .returning(*_COLUMNS)
        )).all()
        # the closed view keeps its agent: the webhook says who held it, the winner refills that agent
        closed = [conversation_view(r) for r in rows]
        deliveries = [d for view in closed for d in outbox.rows(webhook.closed(view, "idle", None, rate_until), now)]
        recorded = await _report(conn, outbox, deliveries)
    if recorded:
        outbox.recorded()
    return closed
