"""Storing chat messages in batches: the hot write path.

Per batch, whatever its size: one query for ``client_msg_id``s already stored, one for the conversations'
``last_seq``, one ``executemany`` bumping them, one inserting the messages. Messages are numbered from
``last_seq`` under the write lock, so seqs rise by one with no gaps; a ``client_msg_id`` already stored (or repeated
within the batch) returns the stored message instead of a new one.

On SQLite the statements go straight to the driver connection under SQLAlchemy's open transaction: building and
compiling SQLAlchemy statements costs more than SQLite takes to run them, and the write lock lets the batch number
its rows itself. Elsewhere portable SQLAlchemy Core runs the same four steps.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Integer, String, and_, bindparam, column, insert, select, update, values
from sqlalchemy.ext.asyncio import AsyncConnection

from kefu_host.chat.values import MessageView
from kefu_host.store.models import Conversation, Message, utcnow

Key = tuple[int, str, str]


class UnknownConversation(Exception):
    """A message for a conversation that does not exist."""


@dataclass(frozen=True, slots=True)
class NewMessage:
    conversation_id: int
    sender: str  # visitor | agent | system
    sender_id: str | None
    client_msg_id: str | None
    body: str


@dataclass(frozen=True, slots=True)
class Appended:
    message: MessageView
    duplicate: bool


class _Ops(Protocol):
    async def stored(self, keys: list[Key]) -> Iterable[tuple[Any, ...]]: ...

    async def last_seqs(self, conversation_ids: Iterable[int]) -> dict[int, int]: ...

    async def write(self, rows: list[tuple[Any, ...]], seqs: dict[int, int], now: datetime) -> list[int]: ...


class AppendMessages:
    """The batch kind that stores chat messages; ``on_stored`` sees each new message once it is durable."""

    name = "append_messages"

    def __init__(self, on_stored: Callable[[MessageView], None]) -> None:
        self.on_stored = on_stored

    async def apply(self, conn: AsyncConnection, items: Sequence[NewMessage]) -> list[Any]:
        ops: _Ops = await _SqliteOps.open(conn) if conn.dialect.name == "sqlite" else _CoreOps(conn)
        results: list[Any] = [None] * len(items)
        same_as: dict[int, int] = {}  # item index -> index of the same send earlier in this batch
        first_seen: dict[Key, int] = {}
        for i, item in enumerate(items):
            if item.client_msg_id is not None:
                key = (item.conversation_id, item.sender, item.client_msg_id)
                if key in first_seen:
                    same_as[i] = first_seen[key]
                else:
                    first_seen[key] = i
        if first_seen:
            for row in await ops.stored(list(first_seen)):
                view = _view(row)
                key = (view.conversation_id, view.sender, view.client_msg_id or "")
                results[first_seen[key]] = Appended(view, duplicate=True)
        fresh = [i for i, r in enumerate(results) if r is None and i not in same_as]
        if fresh:
            now = utcnow()
            last = await ops.last_seqs(Counter(items[i].conversation_id for i in fresh))
            touched: dict[int, int] = {}
            rows, placed = [], []
            for i in fresh:
                item = items[i]
                if item.conversation_id not in last:
                    results[i] = UnknownConversation(f"conversation {item.conversation_id} does not exist")
                    continue
                seq = last[item.conversation_id] = touched[item.conversation_id] = last[item.conversation_id] + 1
                rows.append((item.conversation_id, seq, item.sender, item.sender_id, item.client_msg_id, item.body))
                placed.append(i)
            if rows:
                ids = await ops.write(rows, touched, now)
                for i, row, new_id in zip(placed, rows, ids, strict=True):
                    results[i] = Appended(MessageView(new_id, *row, created_at=now), duplicate=False)
        for i, first in same_as.items():
            earlier = results[first]
            results[i] = Appended(earlier.message, duplicate=True) if isinstance(earlier, Appended) else earlier
        return results

    def committed(self, items: Sequence[NewMessage], results: Sequence[Any]) -> None:
        for result in results:
            if isinstance(result, Appended) and not result.duplicate:
                self.on_stored(result.message)


def _view(row: Any) -> MessageView:
    """A stored message from (id, conversation_id, seq, sender, sender_id, client_msg_id, body, created_at)."""
    created = row[7]
    if isinstance(created, str):
        created = datetime.fromisoformat(created)
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return MessageView(row[0], row[1], row[2], row[3], row[4], row[5], row[6], created)


class _CoreOps:
    """Portable SQLAlchemy Core (PostgreSQL); rows are locked with FOR UPDATE while the batch numbers them."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def stored(self, keys: list[Key]) -> Iterable[tuple[Any, ...]]:
        table = values(column("c", Integer), column("s", String), column("k", String), name="keys").data(keys)
        cte = table.cte("keys")
        m = Message
        query = (
            select(m.id, m.conversation_id, m.seq, m.sender, m.sender_id, m.client_msg_id, m.body, m.created_at)
            .select_from(cte)
            .join(m, and_(m.conversation_id == cte.c.c, m.sender == cte.c.s, m.client_msg_id == cte.c.k))
        )
        return (await self.conn.execute(query)).all()  # type: ignore[return-value]

    async def last_seqs(self, conversation_ids: Iterable[int]) -> dict[int, int]:
        query = (
            select(Conversation.id, Conversation.last_seq)
            .where(Conversation.id.in_(list(conversation_ids)))
            .with_for_update()
        )
        return dict((await self.conn.execute(query)).all())  # type: ignore[arg-type]

    async def write(self, rows: list[tuple[Any, ...]], seqs: dict[int, int], now: datetime) -> list[int]:
        await self.conn.execute(
            update(Conversation)
            .where(Conversation.id == bindparam("cid"))
            .values(last_seq=bindparam("seq"), last_message_at=now, updated_at=now),
            [{"cid": cid, "seq": seq} for cid, seq in seqs.items()],
        )
        keys = ("conversation_id", "seq", "sender", "sender_id", "client_msg_id", "body")
        params = [{**dict(zip(keys, row, strict=True)), "kind": "text", "created_at": now} for row in rows]
        result = await self.conn.execute(insert(Message).returning(Message.id, sort_by_parameter_order=True), params)
        return list(result.scalars())


class _SqliteOps:
    """The driver connection under SQLAlchemy's transaction (BEGIN IMMEDIATE: the batch holds the write lock)."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver  # aiosqlite.Connection

    @classmethod
    async def open(cls, conn: AsyncConnection) -> _SqliteOps:
        raw = await conn.get_raw_connection()
        return cls(raw.driver_connection)

    async def stored(self, keys: list[Key]) -> Iterable[tuple[Any, ...]]:
        placeholders = ",".join("(?,?,?)" for _ in keys)
        sql = (
            f"WITH keys(c, s, k) AS (VALUES {placeholders}) "
            "SELECT m.id, m.conversation_id, m.seq, m.sender, m.sender_id, m.client_msg_id, m.body, m.created_at "
            "FROM keys JOIN messages AS m ON m.conversation_id = keys.c AND m.sender = keys.s "
            "AND m.client_msg_id = keys.k"
        )
        return await self.driver.execute_fetchall(sql, [v for key in keys for v in key])  # type: ignore[no-any-return]

    async def last_seqs(self, conversation_ids: Iterable[int]) -> dict[int, int]:
        ids = list(conversation_ids)
        sql = f"SELECT id, last_seq FROM conversations WHERE id IN ({','.join('?' * len(ids))})"
        return {row[0]: row[1] for row in await self.driver.execute_fetchall(sql, ids)}

    async def write(self, rows: list[tuple[Any, ...]], seqs: dict[int, int], now: datetime) -> list[int]:
        stamp = _sqlite_stamp(now)
        await self.driver.executemany(
            "UPDATE conversations SET last_seq = ?, last_message_at = ?, updated_at = ? WHERE id = ?",
            [(seq, stamp, stamp, cid) for cid, seq in seqs.items()],
        )
        # under the write lock nobody else inserts: this batch's rows take the next ids, in order
        (top,) = await self.driver.execute_fetchall("SELECT coalesce(max(id), 0) FROM messages")
        first = top[0] + 1
        await self.driver.executemany(
            "INSERT INTO messages (id, conversation_id, seq, sender, sender_id, client_msg_id, kind, body, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, 'text', ?, ?)",
            [(first + n, c, seq, s, sid, cmid, body, stamp) for n, (c, seq, s, sid, cmid, body) in enumerate(rows)],
        )
        return list(range(first, first + len(rows)))


def _sqlite_stamp(moment: datetime) -> str:
    """The text SQLAlchemy's SQLite DateTime stores (UTC, no offset), so both paths read back the same."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
