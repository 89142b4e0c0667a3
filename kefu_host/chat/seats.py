"""Who gets which conversation, behind one interface: :class:`MemorySeats` for one process, :class:`SqlSeats` for
several nodes on one PostgreSQL database.

One process keeps the truth in memory (:class:`~kefu_host.chat.assignment.Dispatcher`): checking an agent's free
capacity and taking it happen with no ``await`` between. Several nodes keep it in the database: an assignment is one
transaction that takes the team's advisory lock (FIFO order within a team), picks the least-loaded online agent
``FOR UPDATE`` (its ``load < capacity`` re-checked on the locked row), and compare-and-sets the conversation
(``WHERE status = 'queued'``). A trigger keeps ``agents.load`` and ``CHECK (load <= capacity)`` holds it, so even a
wrong caller cannot overfill an agent (migration 0004). Presence comes from ``agent_sessions`` rows with a fresh
heartbeat (:mod:`kefu_host.chat.cluster_presence`).

Waiting order on both: higher priority first, then earlier arrival, then lower id.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from kefu_host.chat.assignment import Assignment, Dispatcher
from kefu_host.store import Store
from kefu_host.store.models import utcnow


class Seats(Protocol):
    #: what queue facts and availability read: the live dispatcher, or in a cluster a mirror refreshed from the store
    dispatcher: Dispatcher
    #: True when the store is the truth (several nodes): callers then guard their writes (compare-and-set)
    shared: bool

    async def place(self, conversation_id: int, team: str, priority: int, queued_at: datetime,
                    prefer: str | None = None) -> Assignment | None: ...

    async def release(self, conversation_id: int) -> int | None: ...

    async def take(self, conversation_id: int, agent_id: int, team: str) -> Assignment | None:
        """The agent asked for this waiting conversation of ``team``: None when it is no longer waiting or the
        agent has no free capacity (presence does not matter)."""
        ...

    async def drain_agent(self, agent_id: int) -> list[Assignment]: ...

    async def drain_team(self, team: str) -> list[Assignment]: ...

    async def positions(self, team: str) -> list[tuple[int, int]]: ...

    async def position(self, conversation_id: int) -> tuple[str, int] | None: ...

    async def agent_of(self, conversation_id: int) -> int | None: ...


class MemorySeats:
    """The embedded default: the dispatcher decides, the caller writes what it decided."""

    shared = False

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher

    async def place(self, conversation_id: int, team: str, priority: int, queued_at: datetime,
                    prefer: str | None = None) -> Assignment | None:
        return self.dispatcher.place(conversation_id, team, priority, queued_at, prefer=prefer)

    async def release(self, conversation_id: int) -> int | None:
        return self.dispatcher.release(conversation_id)

    async def take(self, conversation_id: int, agent_id: int, team: str) -> Assignment | None:
        return self.dispatcher.take(conversation_id, agent_id)

    async def drain_agent(self, agent_id: int) -> list[Assignment]:
        return self.dispatcher.drain_agent(agent_id) if agent_id in self.dispatcher.agents else []

    async def drain_team(self, team: str) -> list[Assignment]:
        return self.dispatcher.drain_team(team)

    async def positions(self, team: str) -> list[tuple[int, int]]:
        return self.dispatcher.positions(team)

    async def position(self, conversation_id: int) -> tuple[str, int] | None:
        return self.dispatcher.position(conversation_id)

    async def agent_of(self, conversation_id: int) -> int | None:
        return self.dispatcher.agent_of(conversation_id)


def team_lock(team: str) -> int:
    """The advisory lock key of a team's queue (a stable 31-bit hash, the same on every node)."""
    return zlib.crc32(f"kefu-team:{team}".encode()) & 0x7FFFFFFF


_QUEUE_ORDER = "priority DESC, queued_at, id"

_PICK = f"""
SELECT a.id FROM agents a
WHERE NOT a.disabled AND a.load < a.capacity
  AND EXISTS (SELECT 1 FROM agent_sessions s WHERE s.agent_id = a.id AND s.wish = 'online' AND s.heartbeat_at > :fresh)
  AND {{who}}
ORDER BY {{order}} a.load, a.last_assigned_at NULLS FIRST, a.id
LIMIT 1
FOR UPDATE OF a
"""
_IN_TEAM = ("EXISTS (SELECT 1 FROM agent_teams at JOIN teams t ON t.id = at.team_id "
            "WHERE at.agent_id = a.id AND t.name = :team)")
_PICK_TEAM = text(_PICK.format(who=_IN_TEAM, order=""))
_PICK_PREFERRED = text(_PICK.format(who=f"(a.name = :prefer OR {_IN_TEAM})", order="(a.name = :prefer) DESC,"))
_PICK_THIS = text(_PICK.format(who="a.id = :agent", order=""))
_ASSIGN = text(
    "UPDATE conversations SET status = 'assigned', agent_id = :agent, team = :team, assigned_at = :now, "
    "updated_at = :now WHERE id = :cid AND status = 'queued' RETURNING id"
)
#: a take is of the conversation the agent saw waiting in ``team``: moved to another queue meanwhile (a transfer on
#: another node), it is no longer that one, and taking it must not pull it back into ``team``
_TAKE = text(
    "UPDATE conversations SET status = 'assigned', agent_id = :agent, assigned_at = :now, updated_at = :now "
    "WHERE id = :cid AND status = 'queued' AND team = :team RETURNING id"
)
_TOUCH_AGENT = text("UPDATE agents SET last_assigned_at = :now WHERE id = :agent")
_PREFER = text("UPDATE conversations SET preferred_agent = :prefer WHERE id = :cid AND status = 'queued'")
_HEAD = text(
    "SELECT id, team, preferred_agent FROM conversations WHERE status = 'queued' AND team = ANY(:teams) "
    f"ORDER BY {_QUEUE_ORDER} LIMIT 1 FOR UPDATE SKIP LOCKED"
)
_TAKER = text("SELECT id FROM agents WHERE id = :agent AND NOT disabled AND load < capacity FOR UPDATE")
_AGENT_TEAMS = text("SELECT t.name FROM agent_teams at JOIN teams t ON t.id = at.team_id WHERE at.agent_id = :agent")


class SqlSeats:
    """Several nodes: every decision is a PostgreSQL transaction on a connection of its own (not the group writer:
    it waits for locks other nodes hold)."""

    shared = True

    def __init__(self, store: Store, session_ttl: float) -> None:
        self.store = store
        self.session_ttl = session_ttl
        self.dispatcher = Dispatcher()  # a mirror for facts and availability, see :meth:`mirror`

    def _fresh(self) -> datetime:
        return utcnow() - timedelta(seconds=self.session_ttl)

    async def place(self, conversation_id: int, team: str, priority: int, queued_at: datetime,
                    prefer: str | None = None) -> Assignment | None:
        async with self.store.engines.write.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": team_lock(team)})
            now = utcnow()
            params: dict[str, Any] = {"fresh": self._fresh(), "team": team}
            if prefer:
                params["prefer"] = prefer
            # the preference stays with the conversation: whichever node hands it out later (a freed seat, a
            # re-queue after its agent's grace period) offers it to that agent first, as one process's ticket does
            await conn.execute(_PREFER, {"prefer": prefer, "cid": conversation_id})
            agent = (await conn.execute(_PICK_PREFERRED if prefer else _PICK_TEAM, params)).scalar()
            if agent is None or not await self._assign(conn, conversation_id, agent, team, now):
                await conn.execute(
                    text("UPDATE conversations SET team = :team, updated_at = :now WHERE id = :cid "
                         "AND status = 'queued'"), {"team": team, "now": now, "cid": conversation_id})
                return None
            return Assignment(conversation_id, agent, team)

    @staticmethod
    async def _assign(conn: AsyncConnection, cid: int, agent: int, team: str, now: datetime, *,
                      statement: Any = _ASSIGN) -> bool:
        won = (await conn.execute(statement, {"agent": agent, "team": team, "now": now, "cid": cid})).scalar()
        if won is None:
            return False
        await conn.execute(_TOUCH_AGENT, {"now": now, "agent": agent})
        return True

    async def release(self, conversation_id: int) -> int | None:
        """The agent holding it (the caller's status change frees the seat: the trigger counts)."""
        return await self.agent_of(conversation_id)

    async def take(self, conversation_id: int, agent_id: int, team: str) -> Assignment | None:
        """Under the team's lock, like every assignment: the agent's row locked, its load re-checked, the
        conversation compare-and-set from queued in ``team``."""
        async with self.store.engines.write.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": team_lock(team)})
            agent = (await conn.execute(_TAKER, {"agent": agent_id})).scalar()
            if agent is None or not await self._assign(conn, conversation_id, agent_id, team, utcnow(),
                                                       statement=_TAKE):
                return None
            return Assignment(conversation_id, agent_id, team)

    async def drain_agent(self, agent_id: int) -> list[Assignment]:
        """Fill the agent from the queues of its teams, best waiting conversation first."""
        async with self.store.read() as conn:
            teams = sorted((await conn.execute(_AGENT_TEAMS, {"agent": agent_id})).scalars())
        if not teams:
            return []
        out = []
        while True:
            async with self.store.engines.write.begin() as conn:
                for team in teams:  # always in name order: two nodes never wait on each other's locks in a cycle
                    await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": team_lock(team)})
                agent = (await conn.execute(_PICK_THIS, {"fresh": self._fresh(), "agent": agent_id})).scalar()
                if agent is None:
                    return out
                head = (await conn.execute(_HEAD, {"teams": teams})).first()
                if head is None:
                    return out
                now = utcnow()
                if await self._assign(conn, head.id, agent_id, head.team, now):
                    out.append(Assignment(head.id, agent_id, head.team))

    async def drain_team(self, team: str) -> list[Assignment]:
        """Hand the team's waiting conversations to its available agents, in serving order, each to the agent its
        placement preferred when that one can take it."""
        out = []
        while True:
            async with self.store.engines.write.begin() as conn:
                await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": team_lock(team)})
                head = (await conn.execute(_HEAD, {"teams": [team]})).first()
                if head is None:
                    return out
                params: dict[str, Any] = {"fresh": self._fresh(), "team": team}
                if head.preferred_agent:  # as on its first placement: that agent first, if online with a free seat
                    params["prefer"] = head.preferred_agent
                agent = (await conn.execute(_PICK_PREFERRED if head.preferred_agent else _PICK_TEAM, params)).scalar()
                if agent is None:
                    return out
                if await self._assign(conn, head.id, agent, team, utcnow()):
                    out.append(Assignment(head.id, agent, team))

    async def positions(self, team: str) -> list[tuple[int, int]]:
        async with self.store.read() as conn:
            ids = (await conn.execute(
                text(f"SELECT id FROM conversations WHERE status = 'queued' AND team = :team ORDER BY {_QUEUE_ORDER}"),
                {"team": team})).scalars()
            return [(cid, n) for n, cid in enumerate(ids, start=1)]

    async def position(self, conversation_id: int) -> tuple[str, int] | None:
        async with self.store.read() as conn:
            row = (await conn.execute(
                text("SELECT c.team, (SELECT count(*) FROM conversations q WHERE q.status = 'queued' "
                     "AND q.team = c.team AND (q.priority > c.priority OR (q.priority = c.priority AND "
                     "(q.queued_at, q.id) <= (c.queued_at, c.id)))) AS place "
                     "FROM conversations c WHERE c.id = :cid AND c.status = 'queued'"),
                {"cid": conversation_id})).first()
        return (row.team, int(row.place)) if row is not None else None

    async def agent_of(self, conversation_id: int) -> int | None:
        async with self.store.read() as conn:
            return (await conn.execute(
                text("SELECT agent_id FROM conversations WHERE id = :cid AND status = 'assigned'"),
                {"cid": conversation_id})).scalar()

    async def mirror(self, teams: Sequence[str]) -> None:
        """Refresh the dispatcher mirror that queue facts (``queue.length``...) and availability read: online
        agents with their load, waiting conversations of ``teams``."""
        fresh = self._fresh()
        async with self.store.read() as conn:
            agents = (await conn.execute(text(
                "SELECT a.id, a.name, a.capacity, a.load, "
                "(SELECT CASE WHEN bool_or(s.wish = 'online') THEN 'online' WHEN count(*) > 0 THEN 'away' "
                "ELSE 'offline' END FROM agent_sessions s WHERE s.agent_id = a.id AND s.heartbeat_at > :fresh) "
                "AS presence, ARRAY(SELECT t.name FROM agent_teams at JOIN teams t ON t.id = at.team_id "
                "WHERE at.agent_id = a.id) AS teams FROM agents a WHERE NOT a.disabled"), {"fresh": fresh})).all()
            queued = (await conn.execute(text(
                f"SELECT id, team, priority, queued_at, created_at FROM conversations WHERE status = 'queued' "
                f"AND team = ANY(:teams) ORDER BY {_QUEUE_ORDER}"), {"teams": list(teams)})).all()
        self.dispatcher.reset(
            ((a.id, a.name, a.teams, a.capacity, a.presence, a.load) for a in agents),
            ((q.id, q.team, q.priority, q.queued_at or q.created_at) for q in queued),
        )
