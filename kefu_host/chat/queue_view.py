"""A team's queue as the store has it: what a cluster node tells agents in ``queues`` frames (one process builds
the same view from its memory, :func:`kefu_host.chat.queues.team_queue`).

With several nodes a node's memory holds only the conversations of the visitors it serves, so the list of what waits
is read from the store: the waiting conversations of the team in serving order (priority, then arrival, then id, as
:mod:`kefu_host.chat.seats` hands them out), each with its customer, its unread count (the visitor's messages after
``read_seq``) and the visitor's latest message, in one query.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import aliased

from kefu_host.store import Store
from kefu_host.store.models import Conversation, Customer, Message

_latest = aliased(Message)


async def read_team_queue(store: Store, team: str, limit: int, preview_chars: int) -> dict[str, Any]:
    """``{team, count, waiting: [...]}`` as :func:`~kefu_host.chat.queues.team_queue` builds it, from the store."""
    waiting_here = and_(Conversation.team == team, Conversation.status == "queued")
    visitors = and_(Message.conversation_id == Conversation.id, Message.sender == "visitor")
    unread = select(func.count()).where(visitors, Message.seq > Conversation.read_seq).scalar_subquery()
    last_seq = select(func.max(Message.seq)).where(visitors).scalar_subquery()
    query = (
        select(Conversation.id, Conversation.priority, Conversation.queued_at, Conversation.created_at,
               Conversation.customer_id, Customer.name, Customer.vip_level, unread.label("unread"),
               _latest.kind, _latest.body, _latest.created_at.label("said_at"))
        .join(Customer, Customer.id == Conversation.customer_id)
        .outerjoin(_latest, and_(_latest.conversation_id == Conversation.id, _latest.seq == last_seq))
        .where(waiting_here)
        .order_by(Conversation.priority.desc(), Conversation.queued_at, Conversation.id)  # as seats serve them
        .limit(limit)
    )
    async with store.read() as conn:
        count = int((await conn.execute(select(func.count()).select_from(Conversation).where(waiting_here)))
                    .scalar() or 0)
        rows = (await conn.execute(query)).all() if count else []
    waiting = [{
        "conversation_id": row.id,
        "position": position,
        "priority": row.priority,
        "queued_at": row.queued_at or row.created_at,
        "customer": {"id": row.customer_id, "name": row.name, "vip_level": row.vip_level or 0},
        "unread": int(row.unread),
        "last_message": None if row.kind is None else {"kind": row.kind, "body": row.body[:preview_chars],
                                                       "created_at": row.said_at},
    } for position, row in enumerate(rows, start=1)]
    return {"team": team, "count": count, "waiting": waiting}
