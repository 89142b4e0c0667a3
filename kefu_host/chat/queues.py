"""Team queues as agents see them: the chats waiting per team, each with the visitor's latest message.

Agents listen to their teams' queue topics; the chat service publishes a team's ``queues`` frame whenever its queue
changes (a chat queued, assigned, taken, transferred, closed, re-queued) or a waiting visitor writes again. A frame
carries the whole (bounded) queue of the team, so a client only ever replaces what it shows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import structlog

from kefu_host.chat.assignment import Dispatcher
from kefu_host.chat.broker import Item
from kefu_host.chat.hub import Hub
from kefu_host.chat.protocol import Frame, frame
from kefu_host.chat.state import ConvState
from kefu_host.chat.values import CustomerView
from kefu_host.tasks import stop_tasks

log = structlog.get_logger("kefu_host.chat")
#: Waiting chats listed per team (``count`` always says how many there are).
MAX_LISTED = 50
#: The most characters of the latest message shown in a queue entry.
PREVIEW_CHARS = 200
#: How long changes to a team's queue are gathered before its agents are told.
COALESCE_SECONDS = 0.2


def queue_topic(team: str) -> str:
    return f"q:{team}"


def team_queue(
    dispatcher: Dispatcher, live: Mapping[int, ConvState], customers: Mapping[int, CustomerView], team: str
) -> dict[str, Any]:
    """``{team, count, waiting: [...]}``: the team's waiting chats in serving order, at most :data:`MAX_LISTED`."""
    queue = dispatcher.queues.get(team, [])
    waiting = []
    for position, ticket in enumerate(queue[:MAX_LISTED], start=1):
        state = live.get(ticket.conversation_id)
        if state is None:
            continue
        customer = customers.get(state.customer_id)
        last = state.last_visitor
        waiting.append({
            "conversation_id": state.id,
            "position": position,
            "priority": state.priority,
            "queued_at": state.queued_at,  # orjson writes datetimes as isoformat() would, several times faster
            "customer": {"id": state.customer_id, "name": customer.name if customer else None,
                         "vip_level": customer.vip_level if customer else 0},
            "unread": state.unread,
            "last_message": None if last is None else {"kind": last.kind, "body": last.body[:PREVIEW_CHARS],
                                                        "created_at": last.created_at},
        })
    return {"team": team, "count": len(queue), "waiting": waiting}


#: A team's queue read from the store (several nodes): ``read(team)`` -> what :func:`team_queue` gives.
StoreQueue = Callable[[str], Awaitable[dict[str, Any]]]


class QueueBoard:
    """Announces teams' queues to their agents (the chat service's live state, read, never changed here).

    Changes are gathered for :data:`COALESCE_SECONDS` and told once: a busy queue, where every waiting visitor's
    message changes an entry, costs its agents a few frames a second, not one per message.

    With several nodes (``read`` given) a node's memory holds only its own visitors' conversations: the queue is
    read from the store and published to the team's agents on every node."""

    def __init__(self, dispatcher: Dispatcher, hub: Hub, live: Mapping[int, ConvState],
                 customers: Mapping[int, CustomerView], read: StoreQueue | None = None) -> None:
        self.dispatcher, self.hub, self.live, self.customers = dispatcher, hub, live, customers
        self.read = read
        #: the last ``queues`` frame each team's agents were sent
        self._told: dict[str, str] = {}
        self._dirty: dict[str, None] = {}
        self._flush: asyncio.TimerHandle | None = None
        self._telling: set[asyncio.Task[None]] = set()
        self._stopped = False
        #: several nodes: the teams whose queue topic this board follows (see :meth:`_hear`)
        self._heard: dict[str, _Heard] = {}

    async def snapshot(self, teams: Iterable[str]) -> list[dict[str, Any]]:
        """The ``teams`` of a ``queues`` frame, for an agent's welcome (which listens to them first): what it shows
        is what the team's agents were told."""
        entries = []
        for team in teams:
            if self.read is None:
                entry = team_queue(self.dispatcher, self.live, self.customers, team)
            else:
                self._hear(team)
                entry = await self.read(team)
            self._told[team] = frame({"type": "queues", "teams": [entry]}).text
            entries.append(entry)
        return entries

    def announce(self, *teams: str) -> None:
        """These teams' queues changed: their agents hear of it shortly (if what they were told changed)."""
        for team in teams:
            self._dirty[team] = None
        if self._dirty and self._flush is None and not self._stopped:
            self._flush = asyncio.get_running_loop().call_later(COALESCE_SECONDS, self._tell)

    async def stop(self) -> None:
        """Tell nothing more; a read of the store in flight ends before the store closes (else its connection
        would be left in a transaction, holding its locks until the process exits)."""
        self._stopped = True
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        await stop_tasks(*self._telling)

    def _tell(self) -> None:
        self._flush = None
        dirty, self._dirty = self._dirty, {}
        if self.read is not None:
            task = asyncio.get_running_loop().create_task(self._tell_from_store(list(dirty)))
            self._telling.add(task)
            task.add_done_callback(self._telling.discard)
            return
        for team in dirty:
            topic = queue_topic(team)
            if not self.hub.listeners(topic):
                self._told.pop(team, None)
                continue
            out = frame({"type": "queues", "teams": [team_queue(self.dispatcher, self.live, self.customers, team)]})
            if self._told.get(team) != out.text:
                self._told[team] = out.text
                # this node's agents, from this node's view: with several nodes each node tells its own agents
                self.hub.deliver(topic, out)

    async def _tell_from_store(self, teams: list[str]) -> None:
        assert self.read is not None
        for team in teams:
            try:
                out = frame({"type": "queues", "teams": [await self.read(team)]})
            except Exception:  # the store is away: the next change tells again, and agents' welcomes read it
                log.warning("team queue not read", team=team, exc_info=True)
                continue
            self._hear(team)
            if self._told.get(team) == out.text:
                continue  # what the team's agents were last told, by whichever node
            self.hub.publish(queue_topic(team), out)  # the team's agents on every node

    def _hear(self, team: str) -> None:
        """Follow what every node tells this team's agents (a node only says what changed from the last frame)."""
        if team not in self._heard:
            self._heard[team] = _Heard(self, team)
            self.hub.subscribe(queue_topic(team), self._heard[team])


class _Heard:
    """The board's ear on a team's queue topic: the last frame told there, and a new one after a Redis outage."""

    def __init__(self, board: QueueBoard, team: str) -> None:
        self.board, self.team = board, team

    def take(self, item: Item) -> None:
        if isinstance(item, Frame):
            self.board._told[self.team] = item.text

    def catch_up(self, topic: str) -> None:
        self.board._told.pop(self.team, None)  # frames may have been missed: tell again
        self.board.announce(self.team)
