"""Console sign-in sessions, kept server-side: the cookie holds a random secret, the ``login_sessions`` table only
its SHA-256, so a copy of the database signs nobody in.

A session ends when the agent signs out, when its password changes or it is disabled (those delete the agent's
rows in the same transaction, :mod:`kefu_host.chat.accounts`), after ``web.session_idle_timeout`` unused, and
``web.session_lifetime`` after sign-in in any case. Every process on the database sees the same rows.

The CSRF token is derived from the cookie's secret (an HMAC), so it needs no storage and names exactly one session:
a page must have read it from ``/api/agent/me`` or the sign-in answer, which another site cannot.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kefu_host.store import Store
from kefu_host.store.models import LoginSession, utcnow

#: Longest a session's last use may lag in the table: last_seen_at is written at most this often per session.
MAX_TOUCH_INTERVAL = 60.0


@dataclass(frozen=True, slots=True)
class SessionRecord:
    #: SHA-256 (hex) of the cookie's secret.
    id: str = field(repr=False)
    agent_id: int
    created_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session just made: the cookie's secret (never stored) and its record."""

    secret: str = field(repr=False)
    record: SessionRecord


def session_id(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


def csrf_token(secret: str) -> str:
    """The CSRF token of the session whose cookie holds ``secret``."""
    digest = hmac.new(secret.encode("utf-8", "replace"), b"kefu-host csrf v1", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def csrf_matches(secret: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(csrf_token(secret).encode(), given.encode("utf-8", "replace"))


class SessionStore:
    """Creates, finds, refreshes and ends sessions in the ``login_sessions`` table."""

    def __init__(self, store: Store, idle_timeout: float, lifetime: float,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.store, self.clock = store, clock
        self.idle, self.lifetime = timedelta(seconds=idle_timeout), timedelta(seconds=lifetime)
        self.touch_every = timedelta(seconds=min(MAX_TOUCH_INTERVAL, idle_timeout / 10))

    def expires_at(self, record: SessionRecord) -> datetime:
        """When the session ends unless it is used before (the absolute end if that is sooner)."""
        return min(record.created_at + self.lifetime, record.last_seen_at + self.idle)

    def expired(self, record: SessionRecord, now: datetime | None = None) -> bool:
        return (now or self.clock()) >= self.expires_at(record)

    async def create(self, agent_id: int) -> NewSession:
        """A new session for the agent; its sessions that expired meanwhile are deleted on the way."""
        secret = secrets.token_urlsafe(32)
        now = self.clock()
        record = SessionRecord(session_id(secret), agent_id, now, now)

        async def write(conn: AsyncConnection) -> None:
            await conn.execute(delete(LoginSession).where(
                LoginSession.agent_id == agent_id,
                or_(LoginSession.created_at <= now - self.lifetime, LoginSession.last_seen_at <= now - self.idle),
            ))
            await conn.execute(insert(LoginSession).values(id=record.id, agent_id=agent_id, created_at=now,
                                                           last_seen_at=now))

        await self.store.writer.transaction(write)
        return NewSession(secret, record)

    async def find(self, secret: str) -> SessionRecord | None:
        """The live session whose cookie holds ``secret``; None when unknown, ended or expired."""
        found = await self.current([session_id(secret)])
        record = next(iter(found.values()), None)
        return None if record is None or self.expired(record) else record

    async def current(self, ids: Sequence[str]) -> dict[str, SessionRecord]:
        """The stored rows of these sessions, expired ones included (a missing id was ended)."""
        if not ids:
            return {}
        async with self.store.read() as conn:
            rows = await conn.execute(select(LoginSession).where(LoginSession.id.in_(list(ids))))
            return {r.id: SessionRecord(r.id, r.agent_id, r.created_at, r.last_seen_at) for r in rows}

    def stale(self, record: SessionRecord, now: datetime | None = None) -> bool:
        """Its last use is old enough in the table to be written again."""
        return (now or self.clock()) - record.last_seen_at >= self.touch_every

    async def touch(self, ids: Sequence[str]) -> None:
        """Record a use of these sessions now (callers write only :meth:`stale` ones)."""
        if not ids:
            return
        now = self.clock()

        async def write(conn: AsyncConnection) -> None:
            await conn.execute(update(LoginSession).where(LoginSession.id.in_(list(ids))).values(last_seen_at=now))

        await self.store.writer.transaction(write)

    async def revoke(self, session: str) -> None:
        """End one session (sign-out)."""

        async def write(conn: AsyncConnection) -> None:
            await conn.execute(delete(LoginSession).where(LoginSession.id == session))

        await self.store.writer.transaction(write)


async def revoke_agent_sessions(conn: AsyncConnection, agent_id: int) -> None:
    """End every session of the agent, inside the caller's transaction (a password change, a disable)."""
    await conn.execute(delete(LoginSession).where(LoginSession.agent_id == agent_id))
