"""Agents' presence, grace periods and idle closing when several nodes share the database.

Each open agent socket is an ``agent_sessions`` row (its origin, its node, its wish); the node refreshes its rows'
``heartbeat_at`` every ``cluster.heartbeat_interval``. An agent is online while a fresh row wishes so, away while
fresh rows exist and none does, offline with none. A node that dies stops beating: after ``cluster.session_ttl`` any
node removes its rows (:func:`~kefu_host.chat.claims.expire_sessions`) and its agents count as gone since their last
heartbeat. Every node sweeps on the same beat, and the sweep's singletons are claims that exactly one node wins:
re-queueing the conversations of agents gone past ``chat.agent_grace_period`` and closing idle conversations.
The sweep also hands waiting conversations to free agents, should a node have died between freeing a seat and
filling it, and refreshes the mirror that queue facts and availability read.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from sqlalchemy import delete, insert, select, update

from kefu_host.chat.accounts import AgentRecord, list_agents
from kefu_host.chat.assignment import Presence
from kefu_host.chat.availability import Availability
from kefu_host.chat.broker import agent_topic
from kefu_host.chat.claims import claim_idle, claim_requeue, expire_sessions
from kefu_host.chat.protocol import frame
from kefu_host.chat.ratings import rate_until
from kefu_host.chat.seats import SqlSeats
from kefu_host.chat.service import ChatService
from kefu_host.chat.values import AgentView
from kefu_host.config import ClusterConfig
from kefu_host.store.models import Agent, AgentSession, utcnow
from kefu_host.tasks import stop_tasks

log = structlog.get_logger("kefu_host.cluster")


class ClusterPresence:
    """The same calls as :class:`~kefu_host.chat.presence.PresenceKeeper`, with the store as the truth."""

    def __init__(self, service: ChatService, cluster: ClusterConfig, node_id: str) -> None:
        assert isinstance(service.seats, SqlSeats)
        self.service = service
        self.seats: SqlSeats = service.seats
        self.cluster = cluster
        self.node_id = node_id
        self.store = service.repo.store
        self.availability = Availability(self.seats.dispatcher, service.hub)
        self._teams = tuple(service.config.teams)
        self._sweeper: asyncio.Task[None] | None = None
        self._beater: asyncio.Task[None] | None = None
        #: sweeps finished (tests and logs wait on it)
        self.sweeps = 0

    async def start(self) -> None:
        for record in await list_agents(self.store):
            self.know(record)
        async with self.store.engines.write.begin() as conn:  # rows of an earlier process with this node's name
            await conn.execute(delete(AgentSession).where(AgentSession.node_id == self.node_id))
        await self._refresh()
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="kefu-cluster-sweeper")
        # beats on a task of its own: a slow sweep must never make this node's sessions look dead
        self._beater = asyncio.create_task(self._beat_forever(), name="kefu-cluster-heartbeat")

    async def stop(self) -> None:
        await stop_tasks(self._sweeper, self._beater)
        with contextlib.suppress(Exception):  # a clean stop: this node's agents are gone now, not after the ttl
            async with self.store.engines.write.begin() as conn:
                await conn.execute(delete(AgentSession).where(AgentSession.node_id == self.node_id))

    def know(self, record: AgentRecord) -> None:
        if not record.disabled:
            self.service.know_agent(AgentView(record.id, record.name, record.teams, record.capacity))

    # --- presence ----------------------------------------------------------------------------------------------

    def presence(self, agent_id: int) -> Presence:
        slot = self.seats.dispatcher.agents.get(agent_id)
        return slot.presence if slot is not None else "offline"

    def presence_with(self, agent_id: int, wish: Presence) -> Presence:
        return "online" if wish == "online" or self.presence(agent_id) == "online" else "away"

    async def _presence_of(self, agent_id: int) -> Presence:
        fresh = self.seats._fresh()
        async with self.store.read() as conn:
            wishes = set((await conn.execute(select(AgentSession.wish).where(
                AgentSession.agent_id == agent_id, AgentSession.heartbeat_at > fresh))).scalars())
        return "online" if "online" in wishes else "away" if wishes else "offline"

    async def connected(self, agent_id: int, socket: object, wish: Presence = "online") -> None:
        origin = str(getattr(socket, "origin"))
        before = await self._presence_of(agent_id)
        now = utcnow()
        async with self.store.engines.write.begin() as conn:
            await conn.execute(insert(AgentSession).values(id=origin, agent_id=agent_id, node_id=self.node_id,
                                                           wish=wish, started_at=now, heartbeat_at=now))
        await self._changed(agent_id, before, origin)

    async def disconnected(self, agent_id: int, socket: object) -> None:
        origin = str(getattr(socket, "origin"))
        before = await self._presence_of(agent_id)
        async with self.store.engines.write.begin() as conn:
            await conn.execute(delete(AgentSession).where(AgentSession.id == origin))
            await conn.execute(update(Agent).where(Agent.id == agent_id).values(last_seen_at=utcnow()))
        await self._changed(agent_id, before)

    async def set_presence(self, agent_id: int, presence: Presence) -> None:
        """The agent's choice, for every socket it has on any node; announced even when nothing changed."""
        before = await self._presence_of(agent_id)
        async with self.store.engines.write.begin() as conn:
            await conn.execute(update(AgentSession).where(AgentSession.agent_id == agent_id).values(wish=presence))
        if not await self._changed(agent_id, before):
            self._announce(agent_id, before)

    async def _changed(self, agent_id: int, before: Presence, origin: str | None = None) -> bool:
        after = await self._presence_of(agent_id)
        if after == before:
            return False
        self._announce(agent_id, after, origin)
        if after == "online":
            # committed in PostgreSQL by the seats: a refused report would leave the agent holding chats it was
            # never told about; at most its free capacity, so not refused
            await self.service.assigned(await self.seats.drain_agent(agent_id), bounded=False)
        await self._refresh()
        return True

    def _announce(self, agent_id: int, status: Presence, origin: str | None = None) -> None:
        self.service.hub.publish(agent_topic(agent_id), frame({"type": "presence", "status": status}, origin=origin))

    async def _refresh(self) -> None:
        """The mirror read again; teams whose answer flipped are told (each node that sees the flip says it)."""
        await self.seats.mirror(self._teams)
        self.availability.refresh(self._teams)
        self.service.board.announce(*self._teams)  # queues changed by other nodes reach this node's agents

    # --- the sweep ---------------------------------------------------------------------------------------------

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.cluster.heartbeat_interval)
            try:
                await self.sweep()
            except Exception:  # a database hiccup must not end the sweeping
                log.exception("cluster sweep failed", node=self.node_id)

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.cluster.heartbeat_interval)
            try:
                async with self.store.engines.write.begin() as conn:
                    await conn.execute(update(AgentSession).where(AgentSession.node_id == self.node_id)
                                       .values(heartbeat_at=utcnow()))
            except Exception:
                log.exception("cluster heartbeat failed", node=self.node_id)

    async def sweep(self) -> None:
        now = utcnow()
        gone = await expire_sessions(self.store, now, self.cluster.session_ttl)
        if gone:
            log.info("sessions of a silent node expired", agents=gone, node=self.node_id)
            for agent_id in gone:
                self._announce(agent_id, await self._presence_of(agent_id))
        config = self.service.config
        outbox = self.service.repo.outbox
        requeued = await claim_requeue(self.store, outbox, now, config.agent_grace_period)
        if requeued:
            log.info("agents gone past grace period; conversations re-queued", node=self.node_id,
                     conversations=[v.id for v, _ in requeued])
            await self.service.requeue([v.id for v, _ in requeued],
                                       claimed={v.id: v._replace(agent_id=a) for v, a in requeued})
        for view in await claim_idle(self.store, outbox, now, config.idle_close_after,
                                     rate_until(now, config.rating_window)):
            await self.service.closed_elsewhere(view, "idle")
        for team in self._teams:  # committed by the seats: the reports are not refused (see _changed)
            await self.service.assigned(await self.seats.drain_team(team), bounded=False)
        await self._refresh()
        self.sweeps += 1
