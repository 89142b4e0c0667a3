"""The ``webhook_deliveries`` table: recording, claiming, settling, listing and replaying deliveries.

All delivery state lives in the table, so a restart loses nothing. Sending is guarded by a *claim*: a worker moves a
due row's ``next_attempt_at`` into the future (a lease) and counts the attempt in one conditional UPDATE, which only
one worker can win, even with several host processes on one PostgreSQL. The claimed ``(attempts, next_attempt_at)``
pair then fences the outcome: if a replay or another worker changed the row meanwhile, the late outcome is dropped
instead of overwriting newer state. A worker that dies mid-send leaves the lease to expire, and the row is sent
again with the same delivery id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kefu_host.store import Store
from kefu_host.store.models import WebhookDelivery
from kefu_host.webhooks.events import Event
from kefu_host.webhooks.outbox import delivery_rows

Status = Literal["pending", "delivered", "dead"]
STATUSES: tuple[Status, ...] = ("pending", "delivered", "dead")
#: Longest ``last_error`` kept; a receiver's error page is not worth storing whole.
MAX_ERROR_CHARS = 500

_T = WebhookDelivery.__table__


@dataclass(frozen=True, slots=True)
class Delivery:
    """One row of ``webhook_deliveries``."""

    id: str
    endpoint: str
    url: str
    event_type: str
    payload: dict[str, Any]
    status: Status
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True, slots=True)
class Claim:
    """A delivery this worker holds until ``lease_until``: it may send it as attempt number ``attempt``."""

    id: str
    endpoint: str
    payload: dict[str, Any]
    attempt: int
    lease_until: datetime


@dataclass(frozen=True, slots=True)
class ReplayResult:
    replayed: tuple[str, ...]
    already_pending: tuple[str, ...]
    unknown: tuple[str, ...]


def _delivery(row: Any) -> Delivery:
    return Delivery(**{name: getattr(row, name) for name in Delivery.__dataclass_fields__})


# --- recording ---------------------------------------------------------------------------------------------------


async def record(store: Store, event: Event, endpoints: Sequence[tuple[str, str]]) -> list[str]:
    """One pending delivery of ``event`` per ``(endpoint name, url)``, due at once, in a transaction of its own;
    returns their ids. Chat changes record theirs in their own transaction instead (:mod:`.outbox`)."""
    rows = delivery_rows(event, endpoints)
    if not rows:
        return []

    async def write(conn: AsyncConnection) -> None:
        await conn.execute(insert(WebhookDelivery), rows)

    await store.writer.transaction(write)
    return [r["id"] for r in rows]


# --- the worker's side ----------------------------------------------------------------------------------------------


async def due(store: Store, now: datetime, limit: int, exclude: Sequence[str] = ()) -> list[Delivery]:
    """Pending deliveries whose time has come, earliest first (ties in the order they were recorded)."""
    stmt = select(_T).where(_T.c.status == "pending", _T.c.next_attempt_at <= now)
    if exclude:
        stmt = stmt.where(_T.c.id.not_in(list(exclude)))
    stmt = stmt.order_by(_T.c.next_attempt_at, _T.c.created_at, _T.c.id).limit(limit)
    async with store.read() as conn:
        return [_delivery(row) for row in await conn.execute(stmt)]


async def claim(store: Store, leases: Sequence[tuple[Delivery, datetime]]) -> list[Claim]:
    """Claim each delivery until its lease time; returns the ones this caller won."""

    async def write(conn: AsyncConnection) -> list[Claim]:
        won = []
        for d, lease_until in leases:
            result = await conn.execute(
                update(WebhookDelivery)
                .where(
                    _T.c.id == d.id,
                    _T.c.status == "pending",
                    _T.c.attempts == d.attempts,
                    _T.c.next_attempt_at == d.next_attempt_at,
                )
                .values(attempts=d.attempts + 1, next_attempt_at=lease_until)
            )
            if result.rowcount == 1:
                won.append(Claim(d.id, d.endpoint, d.payload, d.attempts + 1, lease_until))
        return won

    if not leases:
        return []
    return await store.writer.transaction(write)


def _fenced(c: Claim) -> ColumnElement[bool]:
    return and_(
        _T.c.id == c.id,
        _T.c.status == "pending",
        _T.c.attempts == c.attempt,
        _T.c.next_attempt_at == c.lease_until,
    )


async def settle(
    store: Store,
    c: Claim,
    status: Status,
    now: datetime,
    *,
    error: str | None = None,
    retry_at: datetime | None = None,
) -> bool:
    """Record the outcome of a claimed attempt; False when the claim was lost (replayed or taken over)."""
    values: dict[str, Any] = {"status": status, "next_attempt_at": retry_at if status == "pending" else None}
    if status == "delivered":
        values["delivered_at"] = now
    if error is not None:
        values["last_error"] = error[:MAX_ERROR_CHARS]

    async def write(conn: AsyncConnection) -> bool:
        result = await conn.execute(update(WebhookDelivery).where(_fenced(c)).values(**values))
        return bool(result.rowcount == 1)

    return await store.writer.transaction(write)


async def release(store: Store, claims: Sequence[Claim], now: datetime) -> int:
    """Give back claims whose send was interrupted (shutdown): due at once, the attempt not counted."""

    async def write(conn: AsyncConnection) -> int:
        released = 0
        for c in claims:
            result = await conn.execute(
                update(WebhookDelivery).where(_fenced(c)).values(attempts=c.attempt - 1, next_attempt_at=now)
            )
            released += result.rowcount
        return released

    if not claims:
        return 0
    return await store.writer.transaction(write)


# --- operators' side -----------------------------------------------------------------------------------------------


async def get(store: Store, delivery_id: str) -> Delivery | None:
    async with store.read() as conn:
        row = (await conn.execute(select(_T).where(_T.c.id == delivery_id))).first()
    return _delivery(row) if row is not None else None


async def list_deliveries(store: Store, status: Status | None = None, limit: int = 50) -> list[Delivery]:
    """The most recent deliveries first."""
    stmt = select(_T)
    if status is not None:
        stmt = stmt.where(_T.c.status == status)
    stmt = stmt.order_by(_T.c.created_at.desc(), _T.c.id.desc()).limit(limit)
    async with store.read() as conn:
        return [_delivery(row) for row in await conn.execute(stmt)]


def _requeue(now: datetime) -> dict[str, Any]:
    # attempts start over so a replayed delivery gets the full retry schedule again
    return {"status": "pending", "attempts": 0, "next_attempt_at": now, "delivered_at": None}


async def replay(store: Store, ids: Sequence[str], now: datetime) -> ReplayResult:
    """Put dead or delivered deliveries back to pending, due at ``now``; pending ones are left as they are."""
    wanted = list(dict.fromkeys(ids))

    async def write(conn: AsyncConnection) -> ReplayResult:
        found = {
            row.id: row.status
            for row in await conn.execute(select(_T.c.id, _T.c.status).where(_T.c.id.in_(wanted)))
        }
        replayable = [i for i in wanted if found.get(i) in ("dead", "delivered")]
        if replayable:
            await conn.execute(
                update(WebhookDelivery)
                .where(_T.c.id.in_(replayable), _T.c.status.in_(("dead", "delivered")))
                .values(**_requeue(now))
            )
        return ReplayResult(
            replayed=tuple(replayable),
            already_pending=tuple(i for i in wanted if found.get(i) == "pending"),
            unknown=tuple(i for i in wanted if i not in found),
        )

    return await store.writer.transaction(write)


async def replay_all_dead(store: Store, now: datetime) -> tuple[str, ...]:
    """Every dead delivery back to pending; returns their ids."""

    async def write(conn: AsyncConnection) -> tuple[str, ...]:
        # one statement with RETURNING: no id list to bind, however many deliveries are dead
        result = await conn.execute(
            update(WebhookDelivery).where(_T.c.status == "dead").values(**_requeue(now)).returning(_T.c.id)
        )
        return tuple(result.scalars())

    return await store.writer.transaction(write)
