"""Recording events: the id, and the event's change to its customer, in one transaction, in batches.

An event's ``(source, id)`` row in ``processed_events`` is inserted only if absent: a repeat (also a concurrent copy,
on any process) finds it and changes nothing. The customer is created on first sight of its ``uid``.

An item of the writer is the events of one request (a batch, or a single event), recorded together or not at all:
an event that fails leaves none of its request behind.

The whole batch is recorded with statements for all of it rather than for each event: on SQLite one multi-row
insert claims the ids, one query reads the customers, one update writes each changed customer, all as one call on
the driver's thread (as the chat messages do, see :mod:`kefu_host.chat.append`); on PostgreSQL one statement claims
the ids and locks the customers, one more writes the changed ones (:mod:`kefu_host.events.record_pg`). There is no
savepoint per request: an event that fails aborts the batch, and the writer then retries every item of it in a
transaction of its own, so the failure stays that request's.

The kind writes in the writer's ``events`` lane, apart from chat messages (:mod:`kefu_host.store.writer`).
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from kefu_host.chat.values import CustomerView
from kefu_host.events import record_pg
from kefu_host.events.changes import CustomerChange, customer_view, merge
from kefu_host.events.types import Event
from kefu_host.store.models import utcnow
from kefu_host.store.pg import ViaSqlAlchemy
from kefu_host.store.writer import EVENTS

_COLUMNS = ("id", "uid", "name", "email", "phone", "avatar_url", "vip_level", "ltv_cents", "tags", "attributes",
            "owner", "last_ip", "last_user_agent", "last_login_at", "field_times")
_JSON = ("tags", "attributes", "field_times")


class Pending(NamedTuple):  # named tuples: built for every event, several times faster than frozen dataclasses
    """A valid event waiting to be recorded, with the customer it is about and what it changes."""

    event: Event
    uid: str | None
    change: CustomerChange | None


class Outcome(NamedTuple):
    """What recording one event did: its status and, when accepted, the customer as the event left it."""

    id: str
    status: Literal["accepted", "duplicate"]
    customer: CustomerView | None = None
    changed: frozenset[str] = frozenset()

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status}


class RecordEvents:
    """The batch kind for the group-commit writer; each item is the events of one request, and its result their
    outcomes, in order."""

    name = "record_events"
    lane = EVENTS

    def apply_sqlite(self, db: sqlite3.Connection, items: Sequence[Sequence[Pending]]) -> list[Any]:
        return _regroup(items, _record_sqlite(db, [p for group in items for p in group]))

    async def apply(self, conn: AsyncConnection, items: Sequence[Sequence[Pending]]) -> list[Any]:
        flat = [p for group in items for p in group]
        if conn.dialect.name == "sqlite":
            driver = (await conn.get_raw_connection()).driver_connection  # aiosqlite.Connection
            return _regroup(items, await driver._execute(_record_sqlite, driver._conn, flat))
        return _regroup(items, await _record_pg(ViaSqlAlchemy(conn), flat))

    async def apply_pg(self, db: Any, items: Sequence[Sequence[Pending]]) -> list[Any]:
        return _regroup(items, await _record_pg(db, [p for group in items for p in group]))

    def pg_one_statement(self, items: Sequence[Sequence[Pending]]) -> bool:
        """Events that change no customer need only the claim (:data:`record_pg.CLAIM`)."""
        return all(p.change is None for group in items for p in group)


def _regroup(groups: Sequence[Sequence[Pending]], outcomes: Sequence[Outcome]) -> list[list[Outcome]]:
    out, at = [], 0
    for group in groups:
        out.append(list(outcomes[at : at + len(group)]))
        at += len(group)
    return out


def _stamp(moment: datetime) -> str:
    """What SQLAlchemy's DateTime stores on SQLite (``%Y-%m-%d %H:%M:%S.%f``, UTC), at a fifth of strftime's cost."""
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    return utc.isoformat(" ", "microseconds")[:26]  # without the "+00:00"


#: Rows per multi-row statement. A batch is cut into chunks of these sizes, largest first, so that only a handful
#: of statement texts exist and each stays in the connection's prepared-statement cache.
_CHUNKS = (64, 16, 4, 1)
_CLAIM = (
    "INSERT OR IGNORE INTO processed_events (source, event_id, type, occurred_at, received_at, customer_uid, payload) "
    "VALUES {rows} RETURNING source, event_id"
)
_CLAIM_SQL = {size: _CLAIM.format(rows=", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * size)) for size in _CHUNKS}
_CREATE_CUSTOMER = (
    "INSERT OR IGNORE INTO customers (uid, vip_level, ltv_cents, tags, attributes, field_times, created_at, "
    "updated_at) VALUES (?, 0, 0, '[]', '{}', '{}', ?, ?)"
)
_SELECT_CUSTOMERS = f"SELECT {', '.join(_COLUMNS)} FROM customers WHERE uid IN ({{marks}})"
_SELECT_SQL = {size: _SELECT_CUSTOMERS.format(marks=", ".join("?" * size)) for size in _CHUNKS}


def _chunks(values: Sequence[Any]) -> list[Sequence[Any]]:
    out, at = [], 0
    for size in _CHUNKS:
        while len(values) - at >= size:
            out.append(values[at : at + size])
            at += size
    return out


def _record_sqlite(db: sqlite3.Connection, items: Sequence[Pending]) -> list[Any]:
    """Record a batch with a few statements for all of it: claim every event id at once, read every customer at
    once, apply the changes in order in memory, then write each changed customer once.

    The outcome of each event is what recording the events one by one, in order, would give: a copy of an id
    earlier in the batch is a duplicate, and each event sees its customer as the events before it left it.
    """
    # Savepoints would cost two statements per event for a failure that does not happen in practice; the writer's
    # retry of a failed batch, one item per transaction, gives the same isolation when it does.
    now = _stamp(utcnow())
    claimed = _claim(db, items, now)
    customers = _customers(db, {p.uid for p in items if p.uid is not None and (p.event.source, p.event.id) in claimed},
                           now)
    outcomes, dirty = _settle(items, claimed, customers)
    for uid, columns in dirty.items():
        row = customers[uid]
        names = tuple(sorted(columns))
        values = [orjson.dumps(row[k]).decode() if k in _JSON else _stamp(row[k]) if isinstance(row[k], datetime)
                  else row[k] for k in names]
        db.execute(_update_sql(names), (*values, now, row["id"]))
    return outcomes


def _settle(
    items: Sequence[Pending], claimed: set[tuple[str, str]], customers: dict[str, dict[str, Any]]
) -> tuple[list[Outcome], dict[str, set[str]]]:
    """Apply the claimed events' changes to ``customers`` in memory, in order; the outcomes and, by uid, the
    columns changed. The outcome of each event is what recording them one by one would give: a copy of an id
    earlier in the batch is a duplicate, and each event sees its customer as the events before it left it.
    Takes ``claimed`` apart as it goes."""
    dirty: dict[str, set[str]] = {}
    outcomes: list[Outcome] = []
    for pending in items:
        event = pending.event
        key = (event.source, event.id)
        if key not in claimed:
            outcomes.append(Outcome(event.id, "duplicate"))
            continue
        claimed.discard(key)  # a second copy in this batch is a duplicate of the first
        if pending.uid is None:
            outcomes.append(Outcome(event.id, "accepted"))
            continue
        row = customers[pending.uid]
        changed: frozenset[str] = frozenset()
        if pending.change is not None:
            updates, changed = merge(row, pending.change, event.occurred_at)
            if updates:
                row.update(updates)
                dirty.setdefault(pending.uid, set()).update(updates)
        outcomes.append(Outcome(event.id, "accepted", customer_view(row), changed))
    return outcomes, dirty


async def _record_pg(db: Any, items: Sequence[Pending]) -> list[Outcome]:
    """The batch on PostgreSQL (:mod:`kefu_host.events.record_pg`): claim and lock, merge here, write back."""
    now = utcnow()
    claimed, customers = await record_pg.claim(db, items, now)
    outcomes, dirty = _settle(items, claimed, customers)
    changed = set().union(*dirty.values()) if dirty else set()
    await record_pg.write_customers(db, [customers[uid] for uid in sorted(dirty)], changed, now)
    return outcomes


@functools.lru_cache(maxsize=256)
def _update_sql(columns: tuple[str, ...]) -> str:
    return f"UPDATE customers SET {', '.join(f'{k} = ?' for k in columns)}, updated_at = ? WHERE id = ?"


def _claim(db: sqlite3.Connection, items: Sequence[Pending], now: str) -> set[tuple[str, str]]:
    """Insert every event's id where absent; the (source, id) pairs that were new."""
    claimed: set[tuple[str, str]] = set()
    for chunk in _chunks(items):
        params: list[Any] = []
        for pending in chunk:
            event = pending.event
            params += (event.source, event.id, event.type, _stamp(event.occurred_at), now, pending.uid,
                       event.to_json())
        claimed.update(db.execute(_CLAIM_SQL[len(chunk)], params).fetchall())
    return claimed


def _customers(db: sqlite3.Connection, uids: set[str], now: str) -> dict[str, dict[str, Any]]:
    """The rows of ``uids`` as mappings, each customer created on first sight."""
    rows = _select_customers(db, sorted(uids))
    missing = uids - rows.keys()
    if missing:
        db.executemany(_CREATE_CUSTOMER, [(uid, now, now) for uid in sorted(missing)])
        rows.update(_select_customers(db, sorted(missing)))
    return rows


def _select_customers(db: sqlite3.Connection, uids: list[str]) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(uids):
        for values in db.execute(_SELECT_SQL[len(chunk)], chunk):
            row = dict(zip(_COLUMNS, values, strict=True))
            for name in _JSON:
                row[name] = orjson.loads(row[name]) if row[name] else ([] if name == "tags" else {})
            if row["last_login_at"]:
                row["last_login_at"] = datetime.fromisoformat(row["last_login_at"]).replace(tzinfo=UTC)
            rows[row["uid"]] = row
    return rows
