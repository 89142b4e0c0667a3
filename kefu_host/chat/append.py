"""Storing chat messages in batches: the hot write path.

Per batch, whatever its size: one query for ``client_msg_id``s already stored, one for the conversations'
``last_seq``, one ``executemany`` bumping them, one inserting the messages. Messages are numbered from
``last_seq`` under the write lock, so seqs rise by one with no gaps; a ``client_msg_id`` already stored (or repeated
within the batch) returns the stored message instead of a new one.

When a webhook endpoint subscribes to ``message.created``, the same transaction also reads the rest of each
conversation row and inserts one delivery per visitor or agent message and endpoint (the outbox,
:mod:`kefu_host.webhooks.outbox`); with no subscriber none of that runs. Agents' notes are never reported
(:mod:`kefu_host.chat.notes`).

On PostgreSQL several hosts may write at once: the whole batch is one statement that locks its conversation rows
first (in id order, so two hosts never deadlock), then numbers and inserts (:mod:`kefu_host.chat.append_pg`).

On SQLite the whole batch runs as one call on the driver's own thread, under SQLAlchemy's open transaction: each
separate statement would cost a thread hop and a loop wake-up, and building SQLAlchemy statements costs more than
SQLite takes to run them. The write lock also lets the batch number its rows itself. :class:`_Plan` holds the logic
both share.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from kefu_host.chat import append_pg
from kefu_host.chat.notes import agents_only
from kefu_host.chat.values import TEXT, ConversationView, MessageView
from kefu_host.store.models import utcnow
from kefu_host.store.pg import ViaSqlAlchemy
from kefu_host.webhooks.events import MESSAGE_CREATED, Event, message_data, new_delivery_id, new_event
from kefu_host.webhooks.outbox import Outbox, Target

Key = tuple[int, str, str]
#: conversation_id, seq, sender, sender_id, client_msg_id, body, kind, attachment
Row = tuple[int, int, str, str | None, str | None, str, str, Mapping[str, Any] | None]
#: Who writes the messages that ``message.created`` reports (automatic replies, sender "system", are not sent).
REPORTED_SENDERS = frozenset({"visitor", "agent"})
#: The conversation columns a ``message.created`` event carries, after ``id, last_seq``.
_REPORT_COLUMNS = ("customer_id", "status", "team", "agent_id", "priority", "channel", "transfers", "tags",
                   "created_at", "queued_at")
_SQLITE_REPORT_SELECT = ", ".join(("id", "last_seq", *_REPORT_COLUMNS))


class UnknownConversation(Exception):
    """A message for a conversation that does not exist."""


class ConversationClosed(Exception):
    """A message sent ``if_open`` to a conversation that is closed: nothing was stored."""


class NotHeld(Exception):
    """A message sent ``if_held_by`` an agent who does not hold the conversation (now): nothing was stored."""


@dataclass(frozen=True, slots=True)
class NewMessage:
    conversation_id: int
    sender: str  # visitor | agent | system
    sender_id: str | None
    client_msg_id: str | None
    body: str
    #: the session that sent it (it gets the ack, not the message)
    origin: int | None = None
    kind: str = TEXT
    #: an attachment's metadata (:mod:`kefu_host.attachments`), stored in the message's JSON column
    attachment: Mapping[str, Any] | None = None
    #: store it only while the conversation is not closed (else :class:`ConversationClosed`): with several nodes
    #: the append checks, under the row lock it takes anyway, what would otherwise take a read before it
    if_open: bool = False
    #: store it only while this agent holds the conversation (else :class:`NotHeld`): the same, for agents
    if_held_by: int | None = None

    def reported(self) -> bool:
        """Whether ``message.created`` reports this message: visitors' and agents' own, never their notes."""
        return self.sender in REPORTED_SENDERS and not agents_only(self.kind)


@dataclass(frozen=True, slots=True)
class Appended:
    message: MessageView
    duplicate: bool
    #: for a new guarded message on PostgreSQL: the conversation row as the message left it (under its lock)
    conversation: ConversationView | None = None


class AppendMessages:
    """The batch kind that stores chat messages; ``on_stored``, if given, sees each new message once it is durable
    (the chat service publishes after its own write returns instead: the commit never pushes to sockets).

    ``outbox`` says which endpoints want ``message.created``; their deliveries are written in the batch.
    """

    name = "append_messages"

    def __init__(
        self, on_stored: Callable[[MessageView, int | None], None] | None = None, outbox: Outbox | None = None
    ) -> None:
        self.on_stored = on_stored
        self.outbox = outbox if outbox is not None else Outbox()

    async def apply(self, conn: AsyncConnection, items: Sequence[NewMessage]) -> list[Any]:
        plan = _Plan(items, utcnow(), self.outbox.message_targets)
        if conn.dialect.name == "sqlite":
            driver = (await conn.get_raw_connection()).driver_connection  # aiosqlite.Connection
            # aiosqlite runs every call on the connection's one thread; this runs the batch there in one go
            await driver._execute(_apply_sqlite, driver._conn, plan)
        else:
            await append_pg.append(ViaSqlAlchemy(conn), plan)
        return plan.finish()

    async def apply_pg(self, db: Any, items: Sequence[NewMessage]) -> list[Any]:
        plan = _Plan(items, utcnow(), self.outbox.message_targets)
        await append_pg.append(db, plan)
        return plan.finish()

    def pg_one_statement(self, items: Sequence[NewMessage]) -> bool:
        """Without ``message.created`` subscribers the batch is the one statement of :data:`append_pg.APPEND`."""
        return not self.outbox.message_targets

    def apply_sqlite(self, db: sqlite3.Connection, items: Sequence[NewMessage]) -> list[Any]:
        plan = _Plan(items, utcnow(), self.outbox.message_targets)
        _apply_sqlite(db, plan)
        return plan.finish()

    def committed(self, items: Sequence[NewMessage], results: Sequence[Any]) -> None:
        if self.on_stored is not None:
            for item, result in zip(items, results, strict=True):
                if isinstance(result, Appended) and not result.duplicate:
                    self.on_stored(result.message, item.origin)
        if self.outbox.message_targets and any(
            isinstance(r, Appended) and not r.duplicate and i.reported() for i, r in zip(items, results, strict=True)
        ):
            self.outbox.recorded()


@dataclass
class _Plan:
    """One batch's bookkeeping: which sends repeat earlier ones, the seqs new messages get, the results."""

    items: Sequence[NewMessage]
    now: datetime
    #: endpoints subscribed to ``message.created``; empty when none is, and then nothing below is reported
    report: tuple[Target, ...] = ()
    results: list[Any] = field(init=False)
    same_as: dict[int, int] = field(init=False, default_factory=dict)  # item -> the same send earlier in the batch
    first_seen: dict[Key, int] = field(init=False, default_factory=dict)
    placed: list[int] = field(init=False, default_factory=list)
    rows: list[Row] = field(init=False, default_factory=list)
    last_seqs: dict[int, int] = field(init=False, default_factory=dict)  # conversation -> its new last_seq
    #: conversation -> the seq of its agent's last reply in the batch (read up to there), SQLite's numbering only
    replied: dict[int, int] = field(init=False, default_factory=dict)
    #: conversation -> its row (the columns of ``_REPORT_COLUMNS``), read only when reporting
    reported_rows: dict[int, Sequence[Any]] = field(init=False, default_factory=dict)

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
        """Rows (id, conversation_id, seq, sender, sender_id, client_msg_id, body, created_at, kind, attachment)
        already stored."""
        for row in rows:
            view = _view(row)
            self.results[self.first_seen[(view.conversation_id, view.sender, view.client_msg_id or "")]] = Appended(
                view, duplicate=True
            )

    def conversations(self) -> list[int]:
        """Conversations that get new messages in this batch."""
        return list(Counter(self.items[i].conversation_id for i in self._fresh()))

    def number(self, last: dict[int, int], holders: Mapping[int, tuple[str, int | None]] | None = None) -> None:
        """Give each new message the next seq of its conversation, from the conversations' stored ``last_seq``
        (``holders``: each conversation's status and agent, for the guarded messages)."""
        for i in self._fresh():
            item = self.items[i]
            if item.conversation_id not in last:
                self.results[i] = UnknownConversation(f"conversation {item.conversation_id} does not exist")
                continue
            if holders is not None and (refused := _refusal(item, *holders[item.conversation_id])) is not None:
                self.results[i] = refused
                continue
            seq = last[item.conversation_id] = self.last_seqs[item.conversation_id] = last[item.conversation_id] + 1
            if item.sender == "agent" and not agents_only(item.kind):
                self.replied[item.conversation_id] = seq
            self.rows.append((item.conversation_id, seq, item.sender, item.sender_id, item.client_msg_id, item.body,
                              item.kind, item.attachment))
            self.placed.append(i)

    def number_rows(self, rows: Iterable[Sequence[Any]]) -> None:
        """:meth:`number` from conversation rows ``(id, last_seq, *_REPORT_COLUMNS)``, kept for :meth:`reports`."""
        last, holders = {}, {}
        for row in rows:
            last[row[0]] = row[1]
            holders[row[0]] = (row[3], row[5])  # status, agent_id
            self.reported_rows[row[0]] = row
        self.number(last, holders)

    def stored_with_ids(self, ids: Sequence[int]) -> None:
        for i, row, new_id in zip(self.placed, self.rows, ids, strict=True):
            cid, seq, sender, sender_id, cmid, body, kind, attachment = row
            view = MessageView(new_id, cid, seq, sender, sender_id, cmid, body, self.now, kind, attachment)
            self.results[i] = Appended(view, duplicate=False)

    def take_pg(self, rows: Iterable[Sequence[Any]]) -> None:
        """The rows of :data:`append_pg.APPEND`: ``(ord, id, seq, duplicate, sender_id, body, created_at, kind,
        attachment, *conversation)``; the five after ``duplicate`` only for a duplicate, the conversation's columns
        (``_REPORT_COLUMNS``) for a new message, and for a guarded one (``if_open``, ``if_held_by``) that its
        conversation refused (``duplicate`` NULL). An item with no row names an unknown conversation."""
        items, results, now = self.items, self.results, self.now
        placed = []
        for row in rows:
            ord_, new_id, seq, duplicate, sender_id, body, created, kind, attachment = row[:9]
            item = items[ord_]
            cid = item.conversation_id
            if duplicate is None:
                results[ord_] = _refusal(item, row[10], row[12]) or ConversationClosed(f"conversation {cid}")
            elif duplicate:
                if isinstance(attachment, str):
                    attachment = orjson.loads(attachment)
                view = MessageView(new_id, cid, seq, item.sender, sender_id, item.client_msg_id, body,
                                   _aware(created), kind, attachment)
                results[ord_] = Appended(view, duplicate=True)
            else:
                view = MessageView(new_id, cid, seq, item.sender, item.sender_id, item.client_msg_id, item.body,
                                   now, item.kind, item.attachment)
                guarded = item.if_open or item.if_held_by is not None
                results[ord_] = Appended(view, False, _conversation(cid, seq, row[9:]) if guarded else None)
                placed.append(ord_)
                if seq > self.last_seqs.get(cid, 0):
                    self.last_seqs[cid] = seq
        placed.sort()
        self.placed = placed
        for i in self._fresh():
            self.results[i] = UnknownConversation(f"conversation {items[i].conversation_id} does not exist")

    def delivery_rows(self) -> list[tuple[str, str, str, str, str]]:
        """``(id, endpoint, url, event_type, payload JSON)`` of each ``message.created`` delivery, in order."""
        rows = []
        for event in self.reports():
            payload = orjson.dumps(event.envelope()).decode()  # one JSON text for every endpoint's copy
            rows += [(new_delivery_id(), name, url, MESSAGE_CREATED, payload) for name, url in self.report]
        return rows

    def reports(self) -> list[Event]:
        """A ``message.created`` event for each new visitor or agent message, in the order they were numbered."""
        out = []
        for i in self.placed:
            if not self.items[i].reported():
                continue
            message = self.results[i].message
            _, _, customer_id, status, team, agent_id, priority, channel, transfers, tags, created, queued = (
                self.reported_rows[message.conversation_id]
            )
            if isinstance(tags, str):  # SQLite hands JSON columns back as text
                tags = orjson.loads(tags)
            # the conversation as this message left it: its last_seq is the message's own seq
            conversation = ConversationView(
                message.conversation_id, customer_id, status, team, agent_id, priority, channel, message.seq,
                transfers, tuple(tags or ()), _aware(created), _aware(queued) if queued is not None else None,
            )
            out.append(new_event(MESSAGE_CREATED, self.now, message_data(conversation, message)))
        return out

    def finish(self) -> list[Any]:
        for i, first in self.same_as.items():
            earlier = self.results[first]
            self.results[i] = Appended(earlier.message, duplicate=True) if isinstance(earlier, Appended) else earlier
        return self.results

    def _fresh(self) -> list[int]:
        return [i for i, r in enumerate(self.results) if r is None and i not in self.same_as]


def _refusal(item: NewMessage, status: str, agent_id: int | None) -> Exception | None:
    """Why a guarded message may not go into a conversation with this status and agent, if it may not."""
    if item.if_open and status == "closed":
        return ConversationClosed(f"conversation {item.conversation_id} is closed")
    if item.if_held_by is not None and (status != "assigned" or agent_id != item.if_held_by):
        return NotHeld(f"conversation {item.conversation_id} is not assigned to agent {item.if_held_by}")
    return None


def _conversation(cid: int, seq: int, columns: Sequence[Any]) -> ConversationView:
    """The conversation as a message with ``seq`` left it, from its ``_REPORT_COLUMNS``."""
    customer_id, status, team, agent_id, priority, channel, transfers, tags, created, queued = columns
    if isinstance(tags, str):
        tags = orjson.loads(tags)
    return ConversationView(cid, customer_id, status, team, agent_id, priority, channel, seq, transfers,
                            tuple(tags or ()), _aware(created), _aware(queued) if queued is not None else None)


def _aware(value: datetime | str) -> datetime:
    """A stored time as an aware UTC datetime (raw SQLite gives text without an offset)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _view(row: Sequence[Any]) -> MessageView:
    attachment = row[9]
    if isinstance(attachment, str):  # raw SQLite: the JSON column's text
        attachment = orjson.loads(attachment)
    return MessageView(row[0], row[1], row[2], row[3], row[4], row[5], row[6], _aware(row[7]), row[8], attachment)


def _apply_sqlite(db: sqlite3.Connection, plan: _Plan) -> None:
    """The batch on the SQLite thread. BEGIN IMMEDIATE was issued: nobody else writes until the commit."""
    keys = plan.keys()
    if keys:
        plan.take_stored(
            db.execute(
                f"WITH keys(c, s, k) AS (VALUES {','.join('(?,?,?)' for _ in keys)}) "
                "SELECT m.id, m.conversation_id, m.seq, m.sender, m.sender_id, m.client_msg_id, m.body, m.created_at, "
                "m.kind, m.attachment FROM keys JOIN messages AS m ON m.conversation_id = keys.c AND m.sender = keys.s "
                "AND m.client_msg_id = keys.k",
                [v for key in keys for v in key],
            ).fetchall()
        )
    conversations = plan.conversations()
    if not conversations:
        return
    placeholders = ",".join("?" * len(conversations))
    if plan.report:
        plan.number_rows(
            db.execute(f"SELECT {_SQLITE_REPORT_SELECT} FROM conversations WHERE id IN ({placeholders})", conversations)
        )
    else:
        rows = db.execute(f"SELECT id, last_seq, status, agent_id FROM conversations WHERE id IN ({placeholders})",
                          conversations).fetchall()
        plan.number({row[0]: row[1] for row in rows}, {row[0]: (row[2], row[3]) for row in rows})
    if not plan.rows:
        return
    stamp = plan.now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # what SQLAlchemy's DateTime stores
    db.executemany(  # an agent's reply reads what came before it
        "UPDATE conversations SET last_seq = ?, last_message_at = ?, updated_at = ?, read_seq = max(read_seq, ?) "
        "WHERE id = ?",
        [(seq, stamp, stamp, plan.replied.get(cid, 0), cid) for cid, seq in plan.last_seqs.items()],
    )
    # under the write lock nobody else inserts: this batch's rows take the next ids, in order
    first = db.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()[0] + 1
    db.executemany(
        "INSERT INTO messages (id, conversation_id, seq, sender, sender_id, client_msg_id, body, kind, attachment, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(first + n, *row[:7], _json_text(row[7]), stamp) for n, row in enumerate(plan.rows)],
    )
    plan.stored_with_ids(range(first, first + len(plan.rows)))
    if plan.report:
        deliveries = []
        for event in plan.reports():
            payload = orjson.dumps(event.envelope()).decode()  # one JSON text for every endpoint's copy
            deliveries += [(new_delivery_id(), name, url, payload, stamp, stamp) for name, url in plan.report]
        db.executemany(
            "INSERT INTO webhook_deliveries (id, endpoint, url, event_type, payload, status, attempts, "
            f"next_attempt_at, created_at) VALUES (?, ?, ?, '{MESSAGE_CREATED}', ?, 'pending', 0, ?, ?)",
            deliveries,
        )


def _json_text(value: Mapping[str, Any] | None) -> str | None:
    """A JSON column's value as SQLAlchemy's JSON type stores it on SQLite (NULL stays NULL)."""
    return orjson.dumps(value).decode() if value is not None else None
