"""Agents coming and going: presence, the grace period before re-queueing, idle closing, startup recovery."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter

import structlog

from kefu_host.chat.accounts import AgentRecord, list_agents
from kefu_host.chat.assignment import Presence
from kefu_host.chat.service import ChatService
from kefu_host.chat.state import ConvState
from kefu_host.chat.values import AgentView
from kefu_host.store.models import utcnow

log = structlog.get_logger("kefu_host.chat")


class PresenceKeeper:
    """Tracks agents' sockets and presence, re-queues the conversations of agents gone past the grace period."""

    def __init__(self, service: ChatService) -> None:
        self.service = service
        self.sockets: Counter[int] = Counter()
        self._grace: dict[int, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Load agents and live conversations; every agent starts offline, inside a fresh grace period."""
        service = self.service
        for record in await list_agents(service.repo.store):
            self.know(record)
        for view in await service.repo.live_conversations():
            state = ConvState.from_view(view)
            service._go_live(state)
            if view.status == "assigned" and view.agent_id in service.dispatcher.agents:
                service.dispatcher.restore_assignment(view.id, view.agent_id, view.team, view.priority, state.queued_at)
                self._start_grace(view.agent_id)
            else:
                state.status = "queued"
                service.dispatcher.place(view.id, view.team, view.priority, state.queued_at)
        for customer_id in {s.customer_id for s in service.live.values()}:
            await service.load_customer(customer_id)
        self._sweeper = asyncio.create_task(self._close_idle(), name="kefu-idle-closer")

    async def stop(self) -> None:
        for handle in self._grace.values():
            handle.cancel()
        for task in [*self._tasks, *([self._sweeper] if self._sweeper else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def know(self, record: AgentRecord) -> None:
        """Add or refresh an agent (new agents can be created while the host runs)."""
        if record.disabled:
            return
        self.service.agents[record.id] = AgentView(record.id, record.name, record.teams, record.capacity)
        self.service.dispatcher.upsert_agent(record.id, record.name, record.teams, record.capacity)

    async def connected(self, agent_id: int, presence: Presence = "online") -> None:
        self.sockets[agent_id] += 1
        handle = self._grace.pop(agent_id, None)
        if handle is not None:
            handle.cancel()
        await self.set_presence(agent_id, presence)

    async def disconnected(self, agent_id: int) -> None:
        self.sockets[agent_id] -= 1
        if self.sockets[agent_id] > 0:
            return
        del self.sockets[agent_id]
        self.service.dispatcher.set_presence(agent_id, "offline")
        self._start_grace(agent_id)
        await self.service.repo.agent_seen(agent_id, utcnow())

    async def set_presence(self, agent_id: int, presence: Presence) -> None:
        assignments = self.service.dispatcher.set_presence(agent_id, presence)
        await self.service._assigned(assignments)

    def _start_grace(self, agent_id: int) -> None:
        loop = asyncio.get_running_loop()
        self._grace[agent_id] = loop.call_later(self.service.config.agent_grace_period, self._grace_over, agent_id)

    def _grace_over(self, agent_id: int) -> None:
        self._grace.pop(agent_id, None)
        if self.sockets[agent_id] > 0:
            return
        task = asyncio.get_running_loop().create_task(self._requeue(agent_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _requeue(self, agent_id: int) -> None:
        moved = self.service.dispatcher.requeue_agent(agent_id)
        if moved:
            log.info("agent gone past grace period; conversations re-queued", agent_id=agent_id, conversations=moved)
            await self.service.requeue(moved)

    async def _close_idle(self) -> None:
        limit = self.service.config.idle_close_after
        while True:
            await asyncio.sleep(min(60.0, max(limit / 4, 0.05)))
            cutoff = time.monotonic() - limit
            for state in list(self.service.live.values()):
                if state.status == "assigned" and state.last_activity < cutoff:
                    try:
                        await self.service.close(state.id, "idle")
                    except Exception:
                        log.exception("idle close failed", conversation_id=state.id)
