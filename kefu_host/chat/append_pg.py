"""Storing a batch of chat messages on PostgreSQL with one statement (one round trip).

:data:`APPEND` takes the batch as arrays (``unnest``) and, in this order: locks the batch's conversation rows in id
order (``FOR UPDATE``: two hosts writing to the same conversations queue behind each other and never deadlock),
finds the ``client_msg_id``s already stored, numbers the new messages from the locked ``last_seq`` (gap-free: the
lock holds until the commit), inserts them, bumps each conversation's ``last_seq``, and returns one row per
message: the new id and seq with the conversation row as the message left it, or the stored message a repeated
send names, or (for a guarded message: ``if_open``, ``if_held_by``) that the conversation refused it and nothing
was stored.

The statement reads the messages as of its start. When another host commits the same ``client_msg_id`` while this
statement waits for the conversation lock, the insert meets the unique key instead: that is raised as
:class:`~kefu_host.store.writer.Conflict`, and the writer runs the batch again, which then finds the stored message
and answers it as a duplicate.

With an endpoint subscribed to ``message.created`` the batch runs in a transaction and also reads the
conversations (locked already) and inserts the deliveries (:mod:`kefu_host.webhooks.outbox`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from kefu_host.store.pg import unique_violation
from kefu_host.store.batches import Conflict

if TYPE_CHECKING:
    from kefu_host.chat.append import _Plan

#: The unique key a concurrent resend from another host runs into.
SEND_KEY = "uq_messages_conversation_id_sender_client_msg_id"

APPEND = """
WITH input AS (
    SELECT * FROM unnest($1::int[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                         $8::text[], $10::bool[], $11::bigint[])
                  AS t(ord, cid, sender, sender_id, cmid, body, kind, attachment, if_open, if_held_by)
), locked AS MATERIALIZED (
    SELECT c.id, c.last_seq, c.customer_id, c.status, c.team, c.agent_id, c.priority, c.channel, c.transfers,
           c.tags::text AS tags, c.created_at, c.queued_at
    FROM conversations AS c
    WHERE c.id IN (SELECT cid FROM input) ORDER BY c.id FOR UPDATE
), stored AS MATERIALIZED (
    SELECT i.ord, m.id, m.seq, m.sender_id, m.body, m.created_at, m.kind, m.attachment::text AS attachment
    FROM input AS i
    JOIN messages AS m ON m.conversation_id = i.cid AND m.sender = i.sender AND m.client_msg_id = i.cmid
), refused AS MATERIALIZED (  -- sent if_open to a closed conversation, or if_held_by an agent not holding it
    SELECT i.ord FROM input AS i JOIN locked AS l ON l.id = i.cid
    WHERE (i.if_open AND l.status = 'closed'
           OR i.if_held_by IS NOT NULL AND (l.status <> 'assigned' OR l.agent_id IS DISTINCT FROM i.if_held_by))
      AND NOT EXISTS (SELECT FROM stored AS s WHERE s.ord = i.ord)
), fresh AS MATERIALIZED (
    SELECT i.ord, i.cid, i.sender, i.sender_id, i.cmid, i.body, i.kind, i.attachment,
           l.last_seq + row_number() OVER (PARTITION BY i.cid ORDER BY i.ord) AS seq
    FROM input AS i JOIN locked AS l ON l.id = i.cid
    WHERE NOT EXISTS (SELECT FROM stored AS s WHERE s.ord = i.ord)
      AND NOT EXISTS (SELECT FROM refused AS r WHERE r.ord = i.ord)
), inserted AS (
    INSERT INTO messages (conversation_id, seq, sender, sender_id, client_msg_id, body, kind, attachment,
                          created_at)
    SELECT cid, seq, sender, sender_id, cmid, body, kind, attachment::json, $9 FROM fresh ORDER BY ord
    RETURNING id, conversation_id, seq
), bumped AS (  -- runs to completion although nothing reads it; an agent's reply reads what came before
    UPDATE conversations AS c SET last_seq = f.seq, last_message_at = $9, updated_at = $9,
                                  read_seq = greatest(c.read_seq, coalesce(f.replied, 0))
    FROM (SELECT cid, max(seq) AS seq, max(seq) FILTER (WHERE sender = 'agent' AND kind <> 'note') AS replied
          FROM fresh GROUP BY cid) AS f
    WHERE c.id = f.cid
)
SELECT f.ord, n.id, n.seq, false AS duplicate, NULL::text AS sender_id, NULL::text AS body,
       NULL::timestamptz AS created_at, NULL::text AS kind, NULL::text AS attachment,
       l.customer_id, l.status, l.team, l.agent_id, l.priority, l.channel, l.transfers, l.tags, l.created_at,
       l.queued_at
FROM inserted AS n JOIN fresh AS f ON f.cid = n.conversation_id AND f.seq = n.seq JOIN locked AS l ON l.id = f.cid
UNION ALL
SELECT ord, id, seq, true, sender_id, body, created_at, kind, attachment,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM stored
UNION ALL
SELECT r.ord, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       l.customer_id, l.status, l.team, l.agent_id, NULL, NULL, NULL, NULL, NULL, NULL
FROM refused AS r JOIN input AS i ON i.ord = r.ord JOIN locked AS l ON l.id = i.cid
"""

#: The conversation columns ``message.created`` reports (see ``_REPORT_COLUMNS`` in :mod:`kefu_host.chat.append`).
REPORT = """
SELECT id, last_seq, customer_id, status, team, agent_id, priority, channel, transfers, tags::text, created_at,
       queued_at
FROM conversations WHERE id = ANY($1::bigint[])
"""

DELIVERIES = """
INSERT INTO webhook_deliveries (id, endpoint, url, event_type, payload, status, attempts, next_attempt_at, created_at)
SELECT id, endpoint, url, event_type, payload::json, 'pending', 0, $6, $6
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS t(id, endpoint, url, event_type, payload)
"""


async def append(db: Any, plan: _Plan) -> None:
    """Store ``plan``'s messages on ``db`` (see :mod:`kefu_host.store.pg`) and record the outcomes in it."""
    items, same_as = plan.items, plan.same_as
    ords, cids, senders, sender_ids, cmids, bodies, kinds, attachments = [], [], [], [], [], [], [], []
    if_open: list[bool] = []
    if_held_by: list[int | None] = []
    for i, item in enumerate(items):
        if i in same_as:
            continue
        ords.append(i)
        cids.append(item.conversation_id)
        senders.append(item.sender)
        sender_ids.append(item.sender_id)
        cmids.append(item.client_msg_id)
        bodies.append(item.body)
        kinds.append(item.kind)
        attachments.append(orjson.dumps(item.attachment).decode() if item.attachment is not None else None)
        if_open.append(item.if_open)
        if_held_by.append(item.if_held_by)
    try:
        rows = await db.fetch(APPEND, ords, cids, senders, sender_ids, cmids, bodies, kinds, attachments, plan.now,
                              if_open, if_held_by)
    except Exception as exc:
        if unique_violation(exc) == SEND_KEY:
            raise Conflict(f"a message of this batch was stored meanwhile by another writer: {exc}") from exc
        raise
    plan.take_pg(rows)
    if plan.report and plan.placed:
        conversations = sorted({items[i].conversation_id for i in plan.placed})
        plan.reported_rows = {row[0]: row for row in await db.fetch(REPORT, conversations)}
        columns: tuple[list[Any], ...] = ([], [], [], [], [])
        for row in plan.delivery_rows():
            for column, value in zip(columns, row, strict=True):
                column.append(value)
        if columns[0]:
            await db.execute(DELIVERIES, *columns, plan.now)
