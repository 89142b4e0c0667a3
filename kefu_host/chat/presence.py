"""Agents coming and going: presence, the grace period before re-queueing, idle closing, startup recovery.

Presence belongs to the agent, not to one tab: each open socket holds a wish (``online`` or ``away``, from the
``presence`` query when it connected), and the agent is online while any socket wishes so, away while sockets are
open and none does, offline with none. A ``presence`` frame is the agent's own choice, so it sets the wish of every
open socket. Every change of the agent's presence is announced to all of its sockets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog

from kefu_host.chat.accounts import AgentRecord, list_agents
from kefu_host.chat.assignment import Presence
from kefu_host.chat.availability import Availability
from kefu_host.chat.broker import agent_topic
from kefu_host.chat.protocol import frame
from kefu_host.chat.service import ChatService
from kefu_host.chat.values import AgentView
from kefu_host.store.models import utcnow
from kefu_host.tasks import stop_tasks

log = structlog.get_logger("kefu_host.chat")


class PresenceKeeper:
    """Tracks agents' sockets and presence, re-queues the conversations of agents gone past the grace period."""

    def __init__(self, service: ChatService) -> None:
        self.service = service
        #: agent -> {socket key: that socket's wish}; an agent with no entry has no socket open
        self._wishes: dict[int, dict[object, Presence]] = {}
        self._grace: dict[int, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        #: which teams have an agent online, announced to visitors when it changes
        self.availability = Availability(service.dispatcher, service.hub)

    async def start(self) -> None:
        """Load agents and live conversations; every agent starts offline, inside a fresh grace period."""
        service = self.service
        for record in await list_agents(service.repo.store):
            self.know(record)
        for view in await service.repo.live_conversations():
            state = service.restore(view)
            if view.status == "assigned" and view.agent_id in service.dispatcher.agents:
                service.dispatcher.restore_assignment(view.id, view.agent_id, view.team, view.priority, state.queued_at)
                self._start_grace(view.agent_id)
            else:
                state.status = "queued"
                service.dispatcher.place(view.id, view.team, view.priority, state.queued_at)
        copies = service.open_copies()
        counts = await service.repo.unread_counts([s.id for s in copies])  # as the agents left them
        for state in copies:
            state.unread = counts[state.id]
        for customer_id in {s.customer_id for s in copies}:
            await service.load_customer(customer_id)
        self._sweeper = asyncio.create_task(self._close_idle(), name="kefu-idle-closer")

    async def stop(self) -> None:
        for handle in self._grace.values():
            handle.cancel()
        await stop_tasks(*self._tasks, self._sweeper)

    def know(self, record: AgentRecord) -> None:
        """Add or refresh an agent (new agents can be created while the host runs)."""
        if record.disabled:
            return
        before = self.service.dispatcher.agents.get(record.id)
        old_teams = before.teams if before is not None else frozenset()
        self.service.know_agent(AgentView(record.id, record.name, record.teams, record.capacity))
        self.service.dispatcher.upsert_agent(record.id, record.name, record.teams, record.capacity)
        self.availability.refresh(old_teams | set(record.teams))  # an online agent may have changed teams

    def presence(self, agent_id: int) -> Presence:
        """The agent's presence as its open sockets decide it."""
        return _decide(self._wishes.get(agent_id))

    def presence_with(self, agent_id: int, wish: Presence) -> Presence:
        """The agent's presence once one more socket wishing ``wish`` is open (for that socket's welcome)."""
        return _decide({**self._wishes.get(agent_id, {}), None: wish})

    async def connected(self, agent_id: int, socket: object, wish: Presence = "online") -> None:
        """A socket of the agent opened, wishing ``wish``."""
        handle = self._grace.pop(agent_id, None)
        if handle is not None:
            handle.cancel()
        # the new socket's welcome already says the presence; the others hear the change
        await self._change(agent_id, lambda wishes: wishes.__setitem__(socket, wish), origin=getattr(socket, "origin", None))

    async def disconnected(self, agent_id: int, socket: object) -> None:
        await self._change(agent_id, lambda wishes: wishes.pop(socket, None))
        if agent_id not in self._wishes:
            self._start_grace(agent_id)
            await self.service.repo.agent_seen(agent_id, utcnow())

    async def set_presence(self, agent_id: int, presence: Presence) -> None:
        """The agent chose ``presence``: every open socket now wishes it. Announced even when nothing changed,
        so the socket that asked hears the answer."""
        changed = await self._change(agent_id, lambda wishes: wishes.update(dict.fromkeys(wishes, presence)))
        if not changed:
            self._announce(agent_id)

    async def _change(
        self, agent_id: int, edit: Callable[[dict[object, Presence]], object], origin: str | None = None
    ) -> bool:
        """Apply ``edit`` to the agent's wishes; if that changes its presence, tell the dispatcher (which may hand
        it queued conversations) and the agent's sockets. Returns whether the presence changed."""
        before = self.presence(agent_id)
        wishes = self._wishes.setdefault(agent_id, {})
        edit(wishes)
        if not wishes:
            del self._wishes[agent_id]
        after = self.presence(agent_id)
        if after == before:
            return False
        assignments = self.service.dispatcher.set_presence(agent_id, after)
        self._announce(agent_id, origin)
        self.availability.refresh(self.service.dispatcher.agents[agent_id].teams)
        # the dispatcher has handed them over: a write refused now would leave them the agent's in memory and queued
        # in the store, nobody told. Presence itself is not written through the lane, and a fill is at most the
        # agent's free capacity, so these writes are not refused
        await self.service.assigned(assignments, bounded=False)
        return True

    def _announce(self, agent_id: int, origin: str | None = None) -> None:
        status = self.presence(agent_id)
        self.service.hub.publish(agent_topic(agent_id), frame({"type": "presence", "status": status}, origin=origin))

    def _start_grace(self, agent_id: int) -> None:
        loop = asyncio.get_running_loop()
        self._grace[agent_id] = loop.call_later(self.service.config.agent_grace_period, self._grace_over, agent_id)

    def _grace_over(self, agent_id: int) -> None:
        self._grace.pop(agent_id, None)
        if agent_id in self._wishes:
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
            for state in self.service.open_copies():
                if state.status == "assigned" and state.last_activity < cutoff:
                    try:
                        await self.service.close(state.id, "idle")
                    except Exception:
                        log.exception("idle close failed", conversation_id=state.id)


def _decide(wishes: dict[object, Presence] | None) -> Presence:
    if not wishes:
        return "offline"
    return "online" if "online" in wishes.values() else "away"
