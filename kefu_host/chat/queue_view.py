"""A team's queue as the store has it: what a cluster node tells agents in ``queues`` frames (one process builds
the same view from its memory, :func:`kefu_host.chat.queues.team_queue`).

With several nodes a node's memory holds only the conversations of the visitors it serves, so the list of what waits
is read from the store: the waiting conversations of the team in serving order (priority, then arrival, then id, as
:mod:`kefu_host.chat.seats` hands them out), each with its customer, its unread count (the visitor's messages after
``read_seq``) and the visitor's latest message.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from kefu_host.store import Store

_WAITING = text("""
SELECT c.id, c.priority, c.queued_at, c.created_at, c.customer_id, cu.name, cu.vip_level,
       (SELECT count(*) FROM messages AS m
        WHERE m.conversation_id = c.id AND m.sender = 'visitor' AND m.seq > c.read_seq) AS unread,
       (SELECT max(m.seq) FROM messages AS m WHERE m.conversation_id = c.id AND m.sender = 'visitor') AS last_seq
FROM conversations AS c JOIN customers AS cu ON cu.id = c.customer_id
WHERE c.team = :team AND c.status = 'queued'
ORDER BY c.priority DESC, c.queued_at, c.id  -- the order of kefu_host.chat.seats
LIMIT :limit
""")
_COUNT = text("SELECT count(*) FROM conversations WHERE team = :team AND status = 'queued'")
_LATEST = text("SELECT conversation_id, kind, body, created_at FROM messages WHERE conversation_id = :cid AND seq = :seq")


async def read_team_queue(store: Store, team: str, limit: int, preview_chars: int) -> dict[str, Any]:
    """``{team, count, waiting: [...]}`` as :func:`~kefu_host.chat.queues.team_queue` builds it, from the store."""
    async with store.read() as conn:
        count = int((await conn.execute(_COUNT, {"team": team})).scalar() or 0)
        rows = (await conn.execute(_WAITING, {"team": team, "limit": limit})).all() if count else []
        latest = {}
        for row in rows:
            if row.last_seq is not None:
                m = (await conn.execute(_LATEST, {"cid": row.id, "seq": row.last_seq})).one()
                latest[row.id] = {"kind": m.kind, "body": m.body[:preview_chars], "created_at": _aware(m.created_at)}
    waiting = [{
        "conversation_id": row.id,
        "position": position,
        "priority": row.priority,
        "queued_at": _aware(row.queued_at or row.created_at),
        "customer": {"id": row.customer_id, "name": row.name, "vip_level": row.vip_level or 0},
        "unread": int(row.unread),
        "last_message": latest.get(row.id),
    } for position, row in enumerate(rows, start=1)]
    return {"team": team, "count": count, "waiting": waiting}


def _aware(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
