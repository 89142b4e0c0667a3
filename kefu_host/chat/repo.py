"""Reading and writing chat data. Every write goes through the group-commit writer; messages through
:class:`~kefu_host.chat.append.AppendMessages`.

A write that changes a conversation in a way webhooks report takes a :class:`~kefu_host.webhooks.outbox.Change`
and inserts its deliveries in its own transaction (the outbox): the change is never stored without them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kefu_host.chat.append import Appended, AppendMessages, NewMessage
from kefu_host.chat.values import NOTE, ConversationView, CustomerView, MessageView
from kefu_host.store import Store
from kefu_host.store.dialect import insert_unless_conflict
from kefu_host.store.models import (
    OPEN_CONVERSATION,
    Agent,
    Conversation,
    Customer,
    Message,
    RoutingDecision,
    WebhookDelivery,
    utcnow,
)
from kefu_host.webhooks import events
from kefu_host.webhooks.outbox import Change, Outbox


def message_view(row: Any) -> MessageView:
    return MessageView(
        id=row.id,
        conversation_id=row.conversation_id,
        seq=row.seq,
        sender=row.sender,
        sender_id=row.sender_id,
        client_msg_id=row.client_msg_id,
        body=row.body,
        created_at=row.created_at,
        kind=row.kind,
        attachment=row.attachment,
    )


def conversation_view(row: Any) -> ConversationView:
    return ConversationView(
        id=row.id,
        customer_id=row.customer_id,
        status=row.status,
        team=row.team,
        agent_id=row.agent_id,
        priority=row.priority,
        channel=row.channel,
        last_seq=row.last_seq,
        transfers=row.transfers,
        tags=tuple(row.tags or ()),
        created_at=row.created_at,
        queued_at=row.queued_at,
    )


def customer_view(row: Any) -> CustomerView:
    return CustomerView(
        id=row.id,
        uid=row.uid,
        name=row.name,
        email=row.email,
        phone=row.phone,
        avatar_url=row.avatar_url,
        vip_level=row.vip_level,
        ltv_cents=row.ltv_cents,
        tags=tuple(row.tags or ()),
        attributes=dict(row.attributes or {}),
        owner=row.owner,
    )


_MESSAGE_COLUMNS = (
    Message.id,
    Message.conversation_id,
    Message.seq,
    Message.sender,
    Message.sender_id,
    Message.client_msg_id,
    Message.body,
    Message.created_at,
    Message.kind,
    Message.attachment,
)


class ChatRepo:
    """Chat queries and writes against the store."""

    def __init__(
        self, store: Store, on_stored: Callable[[MessageView, int | None], None] | None = None,
        outbox: Outbox | None = None,
    ) -> None:
        self.store = store
        #: Where webhook deliveries of chat changes come from; one never opened records nothing.
        self.outbox = outbox if outbox is not None else Outbox()
        self.appender = AppendMessages(on_stored, self.outbox)

    async def append(self, message: NewMessage) -> Appended:
        return await self.store.writer.submit(self.appender, message)  # type: ignore[no-any-return]

    async def messages_after(
        self, conversation_id: int, after_seq: int, limit: int, *, notes: bool = True
    ) -> list[MessageView]:
        """Up to ``limit`` messages after ``after_seq``, in seq order; ``notes=False`` leaves agents' notes out."""
        query = select(*_MESSAGE_COLUMNS).where(Message.conversation_id == conversation_id, Message.seq > after_seq)
        if not notes:
            query = query.where(Message.kind != NOTE)
        async with self.store.read() as conn:
            rows = await conn.execute(query.order_by(Message.seq).limit(limit))
            return [message_view(r) for r in rows]

    async def messages_before(
        self, conversation_id: int, before_seq: int, limit: int, *, notes: bool = True
    ) -> list[MessageView]:
        """The last ``limit`` messages before ``before_seq``, in seq order (older history, read backwards)."""
        query = select(*_MESSAGE_COLUMNS).where(Message.conversation_id == conversation_id, Message.seq < before_seq)
        if not notes:
            query = query.where(Message.kind != NOTE)
        async with self.store.read() as conn:
            rows = await conn.execute(query.order_by(Message.seq.desc()).limit(limit))
            return [message_view(r) for r in reversed(rows.all())]

    async def message_sent_as(self, conversation_id: int, sender: str, client_msg_id: str) -> MessageView | None:
        """The message a sender stored under ``client_msg_id`` in a conversation, if any (resends are duplicates)."""
        async with self.store.read() as conn:
            row = (
                await conn.execute(
                    select(*_MESSAGE_COLUMNS).where(Message.conversation_id == conversation_id,
                                                    Message.sender == sender, Message.client_msg_id == client_msg_id)
                )
            ).first()
        return message_view(row) if row else None

    async def message(self, conversation_id: int, message_id: int) -> MessageView | None:
        """One message of a conversation by its id (None when it is not in that conversation)."""
        async with self.store.read() as conn:
            row = (
                await conn.execute(
                    select(*_MESSAGE_COLUMNS).where(Message.id == message_id, Message.conversation_id == conversation_id)
                )
            ).first()
        return message_view(row) if row else None

    async def last_visitor_message(self, conversation_id: int) -> MessageView | None:
        """The visitor's latest message in the conversation (what a routing decision now would read)."""
        async with self.store.read() as conn:
            row = (await conn.execute(
                select(*_MESSAGE_COLUMNS)
                .where(Message.conversation_id == conversation_id, Message.sender == "visitor")
                .order_by(Message.seq.desc())
                .limit(1)
            )).first()
        return message_view(row) if row else None

    async def conversation(self, conversation_id: int) -> ConversationView | None:
        async with self.store.read() as conn:
            row = (await conn.execute(select(Conversation).where(Conversation.id == conversation_id))).first()
        return conversation_view(row) if row else None

    async def latest_conversation(self, customer_id: int) -> ConversationView | None:
        async with self.store.read() as conn:
            row = (
                await conn.execute(
                    select(Conversation)
                    .where(Conversation.customer_id == customer_id)
                    .order_by(Conversation.id.desc())
                    .limit(1)
                )
            ).first()
        return conversation_view(row) if row else None

    async def live_conversations(self) -> list[ConversationView]:
        async with self.store.read() as conn:
            rows = await conn.execute(select(Conversation).where(Conversation.status != "closed"))
            return [conversation_view(r) for r in rows]

    async def customer(self, customer_id: int) -> CustomerView | None:
        async with self.store.read() as conn:
            row = (await conn.execute(select(Customer).where(Customer.id == customer_id))).first()
        return customer_view(row) if row else None

    async def create_conversation(
        self, customer_id: int, visitor_id: str, team: str, priority: int, channel: str = "web"
    ) -> ConversationView | None:
        """The customer's new (queued) conversation; None when the customer already has an open one (another node
        opened it first: the database holds one open conversation per customer), which the caller reads instead."""

        async def create(conn: AsyncConnection) -> Any:
            now = utcnow()
            values = {
                "customer_id": customer_id,
                "visitor_id": visitor_id,
                "status": "queued",
                "team": team,
                "priority": priority,
                "channel": channel,
                "last_seq": 0,
                "transfers": 0,
                "tags": [],
                "created_at": now,
                "updated_at": now,
                "queued_at": now,
            }
            new_id = await insert_unless_conflict(conn, Conversation, values, ["customer_id"], OPEN_CONVERSATION)
            if new_id is None:
                return None, False
            view = conversation_view((await conn.execute(select(Conversation).where(Conversation.id == new_id))).one())
            deliveries = self.outbox.rows(events.opened(view, reopened=False), now)
            if deliveries:
                await conn.execute(insert(WebhookDelivery), deliveries)
            return view, bool(deliveries)

        view, recorded = await self.store.writer.transaction(create)
        if recorded:
            self.outbox.recorded()
        return view  # type: ignore[no-any-return]

    async def update_conversation(
        self, conversation_id: int, *, change: Change | Sequence[Change] | None = None,
        expect: Mapping[str, Any] | None = None, bounded: bool = True, **values: Any
    ) -> bool:
        """Write ``values`` to the conversation; ``change`` is what the write means to webhooks, if anything (one
        change, or several reported by the same write). With ``expect`` (column -> value; ``status`` may be a tuple
        of statuses) the write is a compare-and-set: only a row that still has those values changes. Returns
        whether the row changed (its deliveries are written only then). ``bounded``: see
        :meth:`~kefu_host.store.writer.GroupWriter.submit`."""
        values.setdefault("updated_at", utcnow())
        changes = change if isinstance(change, Sequence) else (change,)
        deliveries = [row for c in changes for row in self.outbox.rows(c, values["updated_at"])]
        query = update(Conversation).where(Conversation.id == conversation_id)
        for name, value in (expect or {}).items():
            column = getattr(Conversation, name)
            query = query.where(column.in_(value) if isinstance(value, tuple) else
                                column.is_(None) if value is None else column == value)

        async def write(conn: AsyncConnection) -> tuple[bool, bool]:
            result = await conn.execute(query.values(**values))
            if result.rowcount != 1:
                return False, False
            if not deliveries:  # nothing to report
                return True, False
            await conn.execute(insert(WebhookDelivery), deliveries)
            return True, True

        changed, recorded = await self.store.writer.transaction(write, bounded=bounded)
        if recorded:
            self.outbox.recorded()
        return changed  # type: ignore[no-any-return]

    async def unread_counts(self, conversation_ids: Sequence[int]) -> dict[int, int]:
        """For each conversation, how many of the visitor's messages come after the seq its agent has read."""
        if not conversation_ids:
            return {}
        query = (select(Message.conversation_id, func.count())
                 .join(Conversation, Conversation.id == Message.conversation_id)
                 .where(Message.conversation_id.in_(conversation_ids), Message.sender == "visitor",
                        Message.seq > Conversation.read_seq)
                 .group_by(Message.conversation_id))
        async with self.store.read() as conn:
            counts: dict[int, int] = {cid: n for cid, n in await conn.execute(query)}
        return {cid: int(counts.get(cid, 0)) for cid in conversation_ids}

    async def mark_read(self, conversation_id: int, seq: int) -> None:
        """The conversation's agent has read up to ``seq``: kept once it reaches the visitor's latest message (as
        a reply does; never back, never past the last message), so the count is what came after it."""
        later = (select(Message.id).where(Message.conversation_id == conversation_id, Message.sender == "visitor",
                                          Message.seq > seq).exists())
        query = (update(Conversation).where(Conversation.id == conversation_id, Conversation.read_seq < seq, ~later)
                 .values(read_seq=case((Conversation.last_seq < seq, Conversation.last_seq), else_=seq)))

        async def write(conn: AsyncConnection) -> None:
            await conn.execute(query)

        await self.store.writer.transaction(write)

    async def held_by(self, agent_id: int) -> list[ConversationView]:
        """The conversations assigned to the agent, as the store has them."""
        async with self.store.read() as conn:
            rows = await conn.execute(select(Conversation).where(Conversation.agent_id == agent_id,
                                                                 Conversation.status == "assigned")
                                      .order_by(Conversation.id))
            return [conversation_view(r) for r in rows]

    async def record_decision(
        self,
        conversation_id: int,
        trigger: str,
        revision: str,
        fired: Sequence[str],
        actions: Sequence[Any],
        team: str | None,
        outcome: str,
        *,
        bounded: bool = True,
    ) -> None:
        async def write(conn: AsyncConnection) -> None:
            await conn.execute(
                insert(RoutingDecision).values(
                    conversation_id=conversation_id,
                    trigger=trigger,
                    revision=revision,
                    fired=list(fired),
                    actions=[a.to_dict() if hasattr(a, "to_dict") else a for a in actions],
                    team=team,
                    outcome=outcome,
                    created_at=utcnow(),
                )
            )

        await self.store.writer.transaction(write, bounded=bounded)

    async def decisions(self, conversation_id: int, limit: int = 50) -> list[dict[str, Any]]:
        async with self.store.read() as conn:
            rows = await conn.execute(
                select(RoutingDecision)
                .where(RoutingDecision.conversation_id == conversation_id)
                .order_by(RoutingDecision.id.desc())
                .limit(limit)
            )
            return [
                {
                    "trigger": d.trigger,
                    "revision": d.revision,
                    "fired": d.fired,
                    "actions": d.actions,
                    "team": d.team,
                    "outcome": d.outcome,
                    "at": d.created_at.isoformat(),
                }
                for d in rows
            ]

    async def agent_seen(self, agent_id: int, when: datetime) -> None:
        async def write(conn: AsyncConnection) -> None:
            await conn.execute(update(Agent).where(Agent.id == agent_id).values(last_seen_at=when))

        await self.store.writer.transaction(write)
