"""Tickets and their history in the plugin's own database (SQLite, MySQL/MariaDB or PostgreSQL).

Status changes are a compare-and-set on (status, status_at): two writers, in one process or several, cannot
both apply a change read from the same row, and a change older than the current status (by the time it
happened in its own system) never overwrites it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.mysql import LONGTEXT
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from kefu_host.sdk import PluginStore, UtcDateTime, utcnow

STATUSES = ("open", "pending", "solved", "closed")
#: Statuses that count towards ``ticket.open_count``: the customer is still waiting for something.
OPEN_STATUSES = ("open", "pending")
LIST_LIMIT = 100

metadata = MetaData()

tickets = Table(
    "kefu_tickets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uid", String(191), nullable=True),  # the business user id; None for an anonymous visitor
    Column("customer_id", Integer, nullable=True),  # the host's customer id, for visitors without a uid
    Column("conversation_id", Integer, nullable=True),
    Column("subject", String(255), nullable=False),
    Column("body", Text, nullable=True),
    Column("status", String(16), nullable=False),
    Column("external_id", String(191), nullable=True, unique=True),
    Column("created_by", String(191), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # when the current status was set, on the clock of whoever set it (an event's occurred_at)
    Column("status_at", UtcDateTime, nullable=False),
    Index("ix_kefu_tickets_uid_status", "uid", "status"),
    Index("ix_kefu_tickets_customer_status", "customer_id", "status"),
)

changes = Table(
    "kefu_ticket_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "ticket_id", Integer, ForeignKey("kefu_tickets.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("from_status", String(16), nullable=True),  # None: the ticket was created
    Column("to_status", String(16), nullable=False),
    Column("actor", String(255), nullable=False),  # "agent:alice", "event:shop/evt_1"
    Column("note", Text, nullable=True),
    Column("at", UtcDateTime, nullable=False),
)


#: The conversation's messages when the ticket was opened from it (agents' notes left out), as a JSON list.
transcripts = Table(
    "kefu_ticket_transcripts",
    metadata,
    Column("ticket_id", Integer, ForeignKey("kefu_tickets.id", ondelete="CASCADE"), primary_key=True),
    # MySQL's TEXT holds 64 KB; a long chat is more
    Column("messages", Text().with_variant(LONGTEXT(), "mysql", "mariadb"), nullable=False),
)


class TicketNotFound(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Ticket:
    id: int
    uid: str | None
    customer_id: int | None
    conversation_id: int | None
    subject: str
    body: str | None
    status: str
    external_id: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    status_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Ticket:
        return cls(**{name: getattr(row, name) for name in cls.__slots__})

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "uid": self.uid,
            "customer_id": self.customer_id,
            "conversation_id": self.conversation_id,
            "subject": self.subject,
            "body": self.body,
            "status": self.status,
            "external_id": self.external_id,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Change:
    """The outcome of a status change: the ticket as it is now, and whether this call changed it."""

    ticket: Ticket
    changed: bool
    #: True when the change was older than the ticket's current status and was not applied.
    stale: bool = False


@dataclass(frozen=True, slots=True)
class NewTicket:
    uid: str | None
    customer_id: int | None
    conversation_id: int | None
    subject: str
    body: str | None
    status: str
    external_id: str | None
    actor: str
    at: datetime


class TicketStore(PluginStore):
    metadata = metadata

    async def create(self, new: NewTicket, transcript: list[dict[str, Any]] | None = None) -> Ticket:
        """A new ticket, with the transcript of the conversation it was opened from when one is given."""
        async with self.engine.begin() as conn:
            ticket = await self._insert(conn, new)
            if transcript is not None:
                messages = json.dumps(transcript, ensure_ascii=False)
                await conn.execute(insert(transcripts).values(ticket_id=ticket.id, messages=messages))
            return ticket

    async def transcript(self, ticket_id: int) -> list[dict[str, Any]] | None:
        async with self.engine.connect() as conn:
            query = select(transcripts.c.messages).where(transcripts.c.ticket_id == ticket_id)
            row = (await conn.execute(query)).first()
        return json.loads(row.messages) if row else None

    async def _insert(self, conn: AsyncConnection, new: NewTicket) -> Ticket:
        now = utcnow()
        result = await conn.execute(
            insert(tickets).values(
                uid=new.uid,
                customer_id=new.customer_id,
                conversation_id=new.conversation_id,
                subject=new.subject,
                body=new.body,
                status=new.status,
                external_id=new.external_id,
                created_by=new.actor,
                created_at=now,
                updated_at=now,
                status_at=new.at,
            )
        )
        ticket_id = int(result.inserted_primary_key[0])
        await conn.execute(
            insert(changes).values(
                ticket_id=ticket_id, from_status=None, to_status=new.status, actor=new.actor, at=now
            )
        )
        return await self._get(conn, ticket_id)

    async def get(self, ticket_id: int) -> Ticket | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(tickets).where(tickets.c.id == ticket_id))).first()
        return Ticket.from_row(row) if row else None

    async def _get(self, conn: AsyncConnection, ticket_id: int) -> Ticket:
        return Ticket.from_row((await conn.execute(select(tickets).where(tickets.c.id == ticket_id))).one())

    async def history(self, ticket_id: int) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(changes).where(changes.c.ticket_id == ticket_id).order_by(changes.c.id)
            )
            return [
                {
                    "from": r.from_status,
                    "to": r.to_status,
                    "actor": r.actor,
                    "note": r.note,
                    "at": r.at.isoformat(),
                }
                for r in rows
            ]

    async def for_customer(
        self, uid: str | None, customer_id: int | None, status: str | None = None
    ) -> list[Ticket]:
        """The customer's tickets, newest first: by uid when they have one, else by the host's customer id."""
        who = tickets.c.uid == uid if uid is not None else tickets.c.customer_id == customer_id
        query = select(tickets).where(who).order_by(tickets.c.id.desc()).limit(LIST_LIMIT)
        if status is not None:
            query = query.where(tickets.c.status == status)
        async with self.engine.connect() as conn:
            return [Ticket.from_row(r) for r in await conn.execute(query)]

    async def open_count(self, uid: str | None, customer_id: int | None) -> int:
        who = tickets.c.uid == uid if uid is not None else tickets.c.customer_id == customer_id
        query = select(func.count()).select_from(tickets).where(who, tickets.c.status.in_(OPEN_STATUSES))
        async with self.engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def set_status(
        self,
        ticket_id: int,
        status: str,
        *,
        actor: str,
        at: datetime,
        note: str | None = None,
        only_if_newer: bool = False,
    ) -> Change:
        """Move a ticket to ``status`` (TicketNotFound if none); ``only_if_newer`` drops older changes."""
        for _ in range(5):
            async with self.engine.begin() as conn:
                row = (await conn.execute(select(tickets).where(tickets.c.id == ticket_id))).first()
                if row is None:
                    raise TicketNotFound(ticket_id)
                change = await self._compare_and_set(
                    conn, Ticket.from_row(row), status, actor, at, note, only_if_newer
                )
                if change is not None:
                    return change
        raise RuntimeError(f"ticket {ticket_id} kept changing under this update; giving up")

    async def _compare_and_set(
        self,
        conn: AsyncConnection,
        current: Ticket,
        status: str,
        actor: str,
        at: datetime,
        note: str | None,
        only_if_newer: bool,
    ) -> Change | None:
        """The change, or None when another writer changed the row since it was read (the caller retries)."""
        if only_if_newer and at < current.status_at:
            return Change(current, changed=False, stale=True)
        if status == current.status:
            return Change(current, changed=False)
        now = utcnow()
        result = await conn.execute(
            update(tickets)
            .where(
                tickets.c.id == current.id,
                tickets.c.status == current.status,
                tickets.c.status_at == current.status_at,
            )
            .values(status=status, status_at=at, updated_at=now)
        )
        if result.rowcount != 1:
            return None
        await conn.execute(
            insert(changes).values(
                ticket_id=current.id,
                from_status=current.status,
                to_status=status,
                actor=actor,
                note=note,
                at=now,
            )
        )
        return Change(await self._get(conn, current.id), changed=True)

    async def apply_external(
        self,
        *,
        uid: str,
        ticket_id: int | None,
        external_id: str | None,
        status: str,
        subject: str | None,
        actor: str,
        at: datetime,
        customer_id: int | None,
    ) -> Change | None:
        """A change pushed by the ticket system; None when it names a ticket that is not this customer's.

        ``ticket_id`` names one of ours (and links ``external_id`` to it); an ``external_id`` alone names the
        external system's ticket, created here on first sight so the agent sees it.
        """
        for _ in range(5):
            try:
                async with self.engine.begin() as conn:
                    current = await self._find(conn, ticket_id, external_id)
                    if current is None:
                        if ticket_id is not None or external_id is None:
                            return None
                        new = NewTicket(
                            uid=uid,
                            customer_id=customer_id,
                            conversation_id=None,
                            subject=subject or f"ticket {external_id}",
                            body=None,
                            status=status,
                            external_id=external_id,
                            actor=actor,
                            at=at,
                        )
                        return Change(await self._insert(conn, new), changed=True)
                    if current.uid is not None and current.uid != uid:
                        return None
                    if (
                        external_id is not None
                        and current.external_id is None
                        and await self._find(conn, None, external_id) is None
                    ):
                        await conn.execute(
                            update(tickets).where(tickets.c.id == current.id).values(external_id=external_id)
                        )
                        current = await self._get(conn, current.id)
                    change = await self._compare_and_set(conn, current, status, actor, at, None, True)
                    if change is not None:
                        return change
            except IntegrityError:
                continue  # another delivery created the same external ticket first: read it again
        raise RuntimeError(f"ticket {ticket_id or external_id} kept changing under this update; giving up")

    async def _find(
        self, conn: AsyncConnection, ticket_id: int | None, external_id: str | None
    ) -> Ticket | None:
        if ticket_id is not None:
            query = select(tickets).where(tickets.c.id == ticket_id)
        elif external_id is not None:
            query = select(tickets).where(tickets.c.external_id == external_id)
        else:
            return None
        row = (await conn.execute(query)).first()
        return Ticket.from_row(row) if row else None
