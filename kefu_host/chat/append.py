"""Storing chat messages in batches: the hot write path.

Per batch, whatever its size: one query for ``client_msg_id``s already stored, one for the conversations'
``last_seq``, one ``executemany`` bumping them, one inserting the messages. Messages are numbered from
``last_seq`` under the write lock, so seqs rise by one with no gaps; a ``client_msg_id`` already stored (or repeated
within the batch) returns the stored message instead of a new one.

On PostgreSQL several hosts may write at once, so the batch first locks its conversation rows (``FOR UPDATE``, in id
order, so two hosts never deadlock) and only then looks for stored ``client_msg_id``s: a resend racing its original
on another host waits for the original's commit and comes back as its duplicate, never as a unique violation.

On SQLite the whole batch runs as one call on the driver's own thread, under SQLAlchemy's open transaction: each
separate statement would cost a thread hop and a loop wake-up, and building SQLAlchemy statements costs more than
SQLite takes to run them. The write lock also lets the batch number its rows itself. Elsewhere portable SQLAlchemy
Core runs the same steps. :class:`_Plan` holds the logic both share.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, String, and_, bindparam, column, insert, select, update, values
from sqlalchemy.ext.asyncio import AsyncConnection

from kefu_host.chat.values import MessageView
from kefu_host.store.models import Conversation, Message, utcnow

Key = tuple[int, str, str]
Row = tuple[int, int, str, str | None, str | None, str]  # conversation_id, seq, sender, sender_id, cmid, body


class UnknownConversation(Exception):
    """A message for a conversation that does not exist."""


@dataclass(frozen=True, slots=True)
class NewMessage:
    conversation_id: int
    sender: str  # visitor | agent | system
    sender_id: str | None
    client_msg_id: str | None
    body: str
    #: the session that sent it (it gets the ack, not the message)
    origin: int | None = None


@dataclass(frozen=True, slots=True)
class Appended:
    message: MessageView
    duplicate: bool


class AppendMessages:
    """The batch kind that stores chat messages; ``on_stored`` sees each new message once it is durable."""

    name = "append_messages"

    def __init__(self, on_stored: Callable[[MessageView, int | None], None]) -> None:
        self.on_stored = on_stored

    async def apply(self, conn: AsyncConnection, items: Sequence[NewMessage]) -> list[Any]:
        plan = _Plan(items, utcnow())
        if conn.dialect.name == "sqlite":
            driver = (await conn.get_raw_connection()).driver_connection  # aiosqlite.Connection
            # aiosqlite runs every call on the connection's one thread; this runs the batch there in one go
            await driver._execute(_apply_sqlite, driver._conn, plan)
        else:
            await _apply_core(conn, plan)
        return plan.finish()

    def apply_sqlite(self, db: sqlite3.Connection, items: Sequence[NewMessage]) -> list[Any]:
        plan = _Plan(items, utcnow())
        _apply_sqlite(db, plan)
        return plan.finish()

    def committed(self, items: Sequence[NewMessage], results: Sequence[Any]) -> None:
        for item, result in zip(items, results, strict=True):
            if isinstance(result, Appended) and not result.duplicate:
                self.on_stored(result.message, item.origin)


@dataclass
class _Plan:
    """One batch's bookkeeping: which sends repeat earlier ones, the seqs new messages get, the results."""

    items: Sequence[NewMessage]
    now: datetime
    results: list[Any] = field(init=False)
    same_as: dict[int, int] = field(init=False, default_factory=dict)  # item -> the same send earlier in the batch
    first_seen: dict[Key, int] = field(init=False, default_factory=dict)
    placed: list[int] = field(init=False, default_factory=list)
    rows: list[Row] = field(init=False, default_factory=list)
    last_seqs: dict[int, int] = field(init=False, default_factory=dict)  # conversation -> its new last_seq

    def __post_init__(self) -> None:
        self.results = [None] * len(self.items)
        for i, item in enumerate(self.items):
            if item.client_msg_id is not None:
                key = (item.conversation_id, item.sender, item.client_msg_id)
                if key in self.first_seen:
                    self.same_as[i] = self.first_seen[key]
                else:
                    self.first_seen[key] = i

    def keys(self) -> list[Key]:
        return list(self.first_seen)

    def take_stored(self, rows: Iterable[Sequence[Any]]) -> None:
        """Rows (id, conversation_id, seq, sender, sender_id, client_msg_id, body, created_at) already stored."""
        for row in rows:
            view = _view(row)
            self.results[self.first_seen[(view.conversation_id, view.sender, view.client_msg_id or "")]] = Appended(
                view, duplicate=True
            )

    def conversations(self) -> list[int]:
        """Conversations that get new messages in this batch."""
        return list(Counter(self.items[i].conversation_id for i in self._fresh()))

    def number(self, last: dict[int, int]) -> None:
        """Give each new message the next seq of its conversation, from the conversations' stored ``last_seq``."""
        for i in self._fresh():
            item = self.items[i]
            if item.conversation_id not in last:
                self.results[i] = UnknownConversation(f"conversation {item.conversation_id} does not exist")
                continue
            seq = last[item.conversation_id] = self.last_seqs[item.conversation_id] = last[item.conversation_id] + 1
            self.rows.append((item.conversation_id, seq, item.sender, item.sender_id, item.client_msg_id, item.body))
            self.placed.append(i)

    def stored_with_ids(self, ids: Sequence[int]) -> None:
        for i, row, new_id in zip(self.placed, self.rows, ids, strict=True):
            self.results[i] = Appended(MessageView(new_id, *row, created_at=self.now), duplicate=False)

    def finish(self) -> list[Any]:
        for i, first in self.same_as.items():
            earlier = self.results[first]
            self.results[i] = Appended(earlier.message, duplicate=True) if isinstance(earlier, Appended) else earlier
        return self.results

    def _fresh(self) -> list[int]:
        return [i for i, r in enumerate(self.results) if r is None and i not in self.same_as]


def _view(row: Sequence[Any]) -> MessageView:
    created = row[7]
    if isinstance(created, str):
        created = datetime.fromisoformat(created)
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return MessageView(row[0], row[1], row[2], row[3], row[4], row[5], row[6], created)


def _apply_sqlite(db: sqlite3.Connection, plan: _Plan) -> None:
    """The batch on the SQLite thread. BEGIN IMMEDIATE was issued: nobody else writes until the commit."""
    keys = plan.keys()
    if keys:
        plan.take_stored(
            db.execute(
                f"WITH keys(c, s, k) AS (VALUES {','.join('(?,?,?)' for _ in keys)}) "
                "SELECT m.id, m.conversation_id, m.seq, m.sender, m.sender_id, m.client_msg_id, m.body, m.created_at "
                "FROM keys JOIN messages AS m ON m.conversation_id = keys.c AND m.sender = keys.s "
                "AND m.client_msg_id = keys.k",
                [v for key in keys for v in key],
            ).fetchall()
        )
    conversations = plan.conversations()
    if not conversations:
        return
    placeholders = ",".join("?" * len(conversations))
    rows = db.execute(f"SELECT id, last_seq FROM conversations WHERE id IN ({placeholders})", conversations)
    plan.number({row[0]: row[1] for row in rows})
    if not plan.rows:
        return
    stamp = plan.now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # what SQLAlchemy's DateTime stores
    db.executemany(
        "UPDATE conversations SET last_seq = ?, last_message_at = ?, updated_at = ? WHERE id = ?",
        [(seq, stamp, stamp, cid) for cid, seq in plan.last_seqs.items()],
    )
    # under the write lock nobody else inserts: this batch's rows take the next ids, in order
    first = db.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()[0] + 1
    db.executemany(
        "INSERT INTO messages (id, conversation_id, seq, sender, sender_id, client_msg_id, kind, body, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, 'text', ?, ?)",
        [(first + n, *row, stamp) for n, row in enumerate(plan.rows)],
    )
    plan.stored_with_ids(range(first, first + len(plan.rows)))


async def _apply_core(conn: AsyncConnection, plan: _Plan) -> None:
    """The same steps in portable SQLAlchemy Core, for databases several hosts write to at once.

    Lock, then look, then number: the conversation rows are locked first (in id order), so a send of the same
    ``client_msg_id`` committed by another host meanwhile is seen by the duplicate check below (each statement
    reads what was committed before it), instead of failing the insert on the unique key.
    """
    m = Message
    conversations = plan.conversations()  # every conversation the batch may write, duplicates or not
    locked = (
        select(Conversation.id, Conversation.last_seq)
        .where(Conversation.id.in_(conversations))
        .order_by(Conversation.id)
        .with_for_update()
    )
    last = {row[0]: row[1] for row in await conn.execute(locked)}
    keys = plan.keys()
    if keys:
        cte = values(column("c", Integer), column("s", String), column("k", String), name="keys").data(keys).cte()
        query = (
            select(m.id, m.conversation_id, m.seq, m.sender, m.sender_id, m.client_msg_id, m.body, m.created_at)
            .select_from(cte)
            .join(m, and_(m.conversation_id == cte.c.c, m.sender == cte.c.s, m.client_msg_id == cte.c.k))
        )
        plan.take_stored((await conn.execute(query)).all())
    plan.number(last)
    if not plan.rows:
        return
    await conn.execute(
        update(Conversation)
        .where(Conversation.id == bindparam("cid"))
        .values(last_seq=bindparam("seq"), last_message_at=plan.now, updated_at=plan.now),
        [{"cid": cid, "seq": seq} for cid, seq in plan.last_seqs.items()],
    )
    names = ("conversation_id", "seq", "sender", "sender_id", "client_msg_id", "body")
    params = [{**dict(zip(names, row, strict=True)), "kind": "text", "created_at": plan.now} for row in plan.rows]
    result = await conn.execute(insert(Message).returning(Message.id, sort_by_parameter_order=True), params)
    plan.stored_with_ids(list(result.scalars()))
