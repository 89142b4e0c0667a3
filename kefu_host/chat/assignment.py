"""Who gets which conversation: agent capacity, presence and per-team waiting queues.

All decisions here are synchronous and in memory, so checking an agent's free capacity and taking it happen with
no ``await`` in between: two conversations arriving together can never both take an agent's last slot. The caller
persists each decision and undoes it (:meth:`Dispatcher.release`) if the write fails.

Picking an agent: the preferred agent (a rule's ``prefer_agent`` or a plugin's answer) when online with free
capacity; otherwise the online agent of the team with the fewest open conversations, ties to the one idle longest.
Waiting order: higher priority first, then earlier arrival (a re-queued conversation keeps its first arrival time).
"""

from __future__ import annotations

import bisect
import itertools
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Presence = Literal["online", "away", "offline"]


@dataclass
class AgentSlot:
    id: int
    name: str
    teams: frozenset[str]
    capacity: int
    presence: Presence = "offline"
    active: set[int] = field(default_factory=set)
    #: monotonic time of the last assignment; "longest idle" wins ties
    last_assigned: float = 0.0

    @property
    def free(self) -> int:
        return self.capacity - len(self.active)

    @property
    def available(self) -> bool:
        return self.presence == "online" and self.free > 0


@dataclass(frozen=True, order=True)
class Waiting:
    """A queued conversation; instances sort in serving order."""

    neg_priority: int
    queued_at: datetime
    tiebreak: int
    conversation_id: int = field(compare=False)
    team: str = field(compare=False)
    prefer: str | None = field(compare=False, default=None)

    @property
    def priority(self) -> int:
        return -self.neg_priority


@dataclass(frozen=True)
class Assignment:
    conversation_id: int
    agent_id: int
    team: str


class Dispatcher:
    def __init__(self) -> None:
        self.agents: dict[int, AgentSlot] = {}
        self.queues: dict[str, list[Waiting]] = {}
        self._tickets: dict[int, Waiting] = {}  # every placed conversation's ticket, kept while it is assigned
        self._queued: set[int] = set()
        self._owner: dict[int, int] = {}  # conversation -> agent
        self._counter = itertools.count()
        #: rises with every change to queues, assignments or agents, so readers can cache what they derive
        self.version = 0

    # --- agents --------------------------------------------------------------------------------------------

    def upsert_agent(self, agent_id: int, name: str, teams: Iterable[str], capacity: int) -> AgentSlot:
        self.version += 1
        slot = self.agents.get(agent_id)
        if slot is None:
            slot = self.agents[agent_id] = AgentSlot(agent_id, name, frozenset(teams), capacity)
        else:
            slot.name, slot.teams, slot.capacity = name, frozenset(teams), capacity
        return slot

    def reset(self, agents: Iterable[tuple[int, str, Iterable[str], int, Presence, int]],
              waiting: Iterable[tuple[int, str, int, datetime]]) -> None:
        """Replace everything with a snapshot read from the store: agents (id, name, teams, capacity, presence,
        load) and waiting conversations (id, team, priority, queued_at). A cluster node keeps such a mirror for
        queue facts and availability; the store decides assignments there."""
        self.version += 1
        self.agents.clear()
        self.queues.clear()
        self._tickets.clear()
        self._queued.clear()
        self._owner.clear()
        for agent_id, name, teams, capacity, presence, load in agents:
            slot = self.upsert_agent(agent_id, name, teams, capacity)
            slot.presence = presence
            slot.active = {-n for n in range(1, load + 1)}  # stand-ins: only how many counts here
        for cid, team, priority, queued_at in waiting:
            ticket = Waiting(-priority, queued_at, next(self._counter), cid, team)
            self._tickets[cid] = ticket
            self._enqueue(ticket)

    def set_presence(self, agent_id: int, presence: Presence) -> list[Assignment]:
        """Change presence; an agent who becomes available drains the queues of their teams."""
        self.version += 1
        slot = self.agents[agent_id]
        slot.presence = presence
        return self.drain_agent(agent_id) if slot.available else []

    def agent_of(self, conversation_id: int) -> int | None:
        return self._owner.get(conversation_id)

    def load(self, agent_id: int) -> int:
        return len(self.agents[agent_id].active)

    # --- conversations -------------------------------------------------------------------------------------

    def place(
        self, conversation_id: int, team: str, priority: int, queued_at: datetime, prefer: str | None = None
    ) -> Assignment | None:
        """Give the conversation to an agent now, or queue it; returns the assignment or None when queued."""
        self.release(conversation_id)
        ticket = Waiting(-priority, queued_at, next(self._counter), conversation_id, team, prefer)
        self._tickets[conversation_id] = ticket
        agent = self._pick(team, prefer)
        if agent is not None:
            return self._assign(conversation_id, agent, team)
        self._enqueue(ticket)
        return None

    def take(self, conversation_id: int, agent_id: int) -> Assignment | None:
        """Give a waiting conversation to this agent (who asked for it); None when the agent has no free capacity.
        Presence does not matter: the agent chose it."""
        slot = self.agents[agent_id]
        if conversation_id not in self._queued or slot.free <= 0:
            return None
        team = self._tickets[conversation_id].team
        self._unqueue(conversation_id)
        return self._assign(conversation_id, slot, team)

    def restore_assignment(
        self, conversation_id: int, agent_id: int, team: str, priority: int, queued_at: datetime
    ) -> None:
        """Record an assignment that already exists in the store (at startup); capacity is not checked."""
        self.version += 1
        self.release(conversation_id)
        self._tickets[conversation_id] = Waiting(-priority, queued_at, next(self._counter), conversation_id, team)
        self.agents[agent_id].active.add(conversation_id)
        self._owner[conversation_id] = agent_id

    def release(self, conversation_id: int) -> int | None:
        """Forget the conversation (closed, or about to be placed again); returns the agent it had, if any."""
        self.version += 1
        self._unqueue(conversation_id)
        self._tickets.pop(conversation_id, None)
        agent_id = self._owner.pop(conversation_id, None)
        if agent_id is not None:
            self.agents[agent_id].active.discard(conversation_id)
        return agent_id

    def requeue_agent(self, agent_id: int) -> list[int]:
        """Put an absent agent's conversations back in their queues, where their arrival time puts them."""
        self.version += 1
        slot = self.agents[agent_id]
        moved = sorted(slot.active)
        for cid in moved:
            slot.active.discard(cid)
            del self._owner[cid]
            self._enqueue(self._tickets[cid])
        return moved

    def drain_agent(self, agent_id: int) -> list[Assignment]:
        """Fill an available agent from the queues of their teams, best waiting conversation first."""
        slot = self.agents[agent_id]
        out = []
        while slot.available:
            heads = [q[0] for team in slot.teams if (q := self.queues.get(team))]
            if not heads:
                break
            best = min(heads)
            self._unqueue(best.conversation_id)
            out.append(self._assign(best.conversation_id, slot, best.team))
        return out

    def drain_team(self, team: str) -> list[Assignment]:
        """Hand waiting conversations of ``team`` to its available agents, in serving order."""
        out = []
        queue = self.queues.get(team, [])
        while queue:
            head = queue[0]
            agent = self._pick(team, head.prefer)
            if agent is None:
                break
            self._unqueue(head.conversation_id)
            out.append(self._assign(head.conversation_id, agent, team))
        return out

    def position(self, conversation_id: int) -> tuple[str, int] | None:
        """(team, 1-based place in its queue) for a waiting conversation."""
        if conversation_id not in self._queued:
            return None
        ticket = self._tickets[conversation_id]
        return ticket.team, bisect.bisect_left(self.queues[ticket.team], ticket) + 1

    def positions(self, team: str) -> list[tuple[int, int]]:
        return [(w.conversation_id, n) for n, w in enumerate(self.queues.get(team, []), start=1)]

    def queue_stats(self, team: str, now: datetime) -> tuple[int, float]:
        """(length, oldest wait in seconds) of a team's queue."""
        queue = self.queues.get(team, [])
        oldest = min((w.queued_at for w in queue), default=None)
        return len(queue), (now - oldest).total_seconds() if oldest else 0.0

    def online_agents(self, team: str) -> list[AgentSlot]:
        return [a for a in self.agents.values() if team in a.teams and a.presence == "online"]

    # --- internals -----------------------------------------------------------------------------------------

    def _enqueue(self, ticket: Waiting) -> None:
        self.version += 1
        bisect.insort(self.queues.setdefault(ticket.team, []), ticket)
        self._queued.add(ticket.conversation_id)

    def _unqueue(self, conversation_id: int) -> None:
        self.version += 1
        if conversation_id in self._queued:
            self._queued.discard(conversation_id)
            ticket = self._tickets[conversation_id]
            queue = self.queues[ticket.team]
            del queue[bisect.bisect_left(queue, ticket)]

    def _pick(self, team: str, prefer: str | None) -> AgentSlot | None:
        if prefer:
            for agent in self.agents.values():
                if agent.name == prefer and agent.available:
                    return agent
        candidates = [a for a in self.agents.values() if team in a.teams and a.available]
        if not candidates:
            return None
        return min(candidates, key=lambda a: (len(a.active), a.last_assigned))

    def _assign(self, conversation_id: int, agent: AgentSlot, team: str) -> Assignment:
        self.version += 1
        assert agent.free > 0, "capacity check and reservation must not be separated"
        agent.active.add(conversation_id)
        agent.last_assigned = time.monotonic()
        self._owner[conversation_id] = agent.id
        return Assignment(conversation_id, agent.id, team)
