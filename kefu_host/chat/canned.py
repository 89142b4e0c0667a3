"""Canned replies: saved answers an agent inserts into the composer with ``/`` and a search.

A reply is a team's (shared by its agents, managed by them and by admins) or one agent's own (``personal``, seen
and managed by that agent only). The HTTP API is :mod:`kefu_host.chat.canned_api`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kefu_host.chat.protocol import MAX_BODY_CHARS
from kefu_host.inputs import BadInput
from kefu_host.store import Store
from kefu_host.store.models import CannedReply, utcnow

MAX_SHORTCUT = 64
#: A shortcut is one word: letters (any script), digits, ``_``, ``-`` and ``.``; what follows ``/`` in the composer.
SHORTCUT = re.compile(r"[\w.-]+")
#: The most replies one agent sees (its own, its teams'); a list longer than this is cut, shortcuts in order.
MAX_LISTED = 1000
FIELDS = frozenset({"shortcut", "body", "team"})


@dataclass(frozen=True, slots=True)
class Canned:
    id: int
    team: str | None
    agent_id: int | None
    shortcut: str
    body: str
    updated_at: datetime

    @property
    def scope(self) -> str:
        return "team" if self.team is not None else "personal"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "scope": self.scope, "team": self.team, "shortcut": self.shortcut, "body": self.body,
                "updated_at": self.updated_at.isoformat()}


@dataclass(frozen=True, slots=True)
class CannedInput:
    """A checked create or update body; None for what an update leaves as it is."""

    shortcut: str | None
    body: str | None
    team: str | None


def parse_input(data: Any, teams: Collection[str], *, partial: bool) -> CannedInput:
    """Check a JSON body (``partial``: an update, where every field is optional but one is needed); raises
    :class:`~kefu_host.inputs.BadInput` naming the field."""
    if not isinstance(data, Mapping):
        raise BadInput("", "body must be a JSON object")
    for key in data:
        if key not in FIELDS or (partial and key == "team"):
            allowed = "shortcut, body" if partial else "shortcut, body, team"
            raise BadInput(str(key), f"unknown field (allowed: {allowed})")
    shortcut = data.get("shortcut")
    body = data.get("body")
    team = data.get("team")
    if shortcut is not None or not partial:
        if not isinstance(shortcut, str) or not 1 <= len(shortcut) <= MAX_SHORTCUT or not SHORTCUT.fullmatch(shortcut):
            raise BadInput("shortcut", f"must be one word of 1 to {MAX_SHORTCUT} letters, digits, '_', '-' or '.'")
    if body is not None or not partial:
        if not isinstance(body, str) or not body.strip() or len(body) > MAX_BODY_CHARS:
            raise BadInput("body", f"must be a text of 1 to {MAX_BODY_CHARS} characters, not blank")
    if team is not None and (not isinstance(team, str) or team not in teams):
        raise BadInput("team", f"must be one of the host's teams ({', '.join(sorted(teams))}) or null")
    if partial and shortcut is None and body is None:
        raise BadInput("", "give shortcut or body (or both)")
    return CannedInput(shortcut, body.strip() if isinstance(body, str) else None, team)


def _view(row: Any) -> Canned:
    return Canned(row.id, row.team, row.agent_id, row.shortcut, row.body, row.updated_at)


_COLUMNS = (CannedReply.id, CannedReply.team, CannedReply.agent_id, CannedReply.shortcut, CannedReply.body,
            CannedReply.updated_at)


async def visible(store: Store, agent_id: int | None, teams: Collection[str] | None) -> list[Canned]:
    """The agent's own replies and those of ``teams`` (every team's when ``teams`` is None), personal first,
    then by shortcut."""
    team_clause = CannedReply.team.is_not(None) if teams is None else CannedReply.team.in_(list(teams))
    clause = or_(team_clause, CannedReply.agent_id == agent_id) if agent_id is not None else team_clause
    query = select(*_COLUMNS).where(clause).order_by(CannedReply.shortcut, CannedReply.id).limit(MAX_LISTED)
    async with store.read() as conn:
        rows = [_view(r) for r in await conn.execute(query)]
    return sorted(rows, key=lambda c: c.scope != "personal")


async def find(store: Store, canned_id: int) -> Canned | None:
    async with store.read() as conn:
        row = (await conn.execute(select(*_COLUMNS).where(CannedReply.id == canned_id))).first()
    return _view(row) if row is not None else None


async def create(store: Store, *, team: str | None, agent_id: int | None, shortcut: str, body: str) -> Canned:
    async def write(conn: AsyncConnection) -> Canned:
        now = utcnow()
        result = await conn.execute(insert(CannedReply).values(team=team, agent_id=agent_id, shortcut=shortcut,
                                                               body=body, created_at=now, updated_at=now))
        return Canned(int(result.inserted_primary_key[0]), team, agent_id, shortcut, body, now)

    return await store.writer.transaction(write)


async def change(store: Store, canned: Canned, given: CannedInput) -> Canned:
    values: dict[str, Any] = {"updated_at": utcnow()}
    if given.shortcut is not None:
        values["shortcut"] = given.shortcut
    if given.body is not None:
        values["body"] = given.body

    async def write(conn: AsyncConnection) -> None:
        await conn.execute(update(CannedReply).where(CannedReply.id == canned.id).values(**values))

    await store.writer.transaction(write)
    return Canned(canned.id, canned.team, canned.agent_id, values.get("shortcut", canned.shortcut),
                  values.get("body", canned.body), values["updated_at"])


async def remove(store: Store, canned_id: int) -> None:
    async def write(conn: AsyncConnection) -> None:
        await conn.execute(delete(CannedReply).where(CannedReply.id == canned_id))

    await store.writer.transaction(write)
