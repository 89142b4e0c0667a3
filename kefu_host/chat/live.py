"""What this node knows of open conversations, customers and agents, the public calls to read it, and the
announcements made from it.

On one process the copies are the working state (written through to the store by the service). With several nodes
(``seats.shared``) the store is the truth and the calls read it: a conversation is read again before it is changed,
and the copy here only keeps what this node alone knows (the position a visitor was last told, the rules that fired
last). Nothing outside the chat service reaches into these dicts; presence, events, the HTTP API and plugins use the
methods below.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kefu_host.chat.accounts import list_agents
from kefu_host.chat.assignment import Dispatcher
from kefu_host.chat.broker import Unfollow, agent_topic, conversation_topic
from kefu_host.chat.hub import Hub
from kefu_host.chat.protocol import Frame, frame
from kefu_host.chat.queue_view import read_team_queue
from kefu_host.chat.queues import MAX_LISTED, PREVIEW_CHARS, QueueBoard
from kefu_host.chat.repo import ChatRepo
from kefu_host.chat.seats import Seats
from kefu_host.chat.state import ConvState
from kefu_host.chat.values import AgentView, ConversationView, CustomerView

#: How many recent messages an agent gets with a newly assigned conversation (the rest over HTTP).
TRANSCRIPT_WITH_ASSIGNMENT = 50


class LiveState:
    def __init__(self, repo: ChatRepo, seats: Seats, hub: Hub) -> None:
        self.repo = repo
        self.hub = hub
        self.seats = seats
        #: several nodes share the store: read before changing, compare-and-set every change
        self.shared = seats.shared
        self.live: dict[int, ConvState] = {}
        self.live_by_customer: dict[int, int] = {}
        self.customers: dict[int, CustomerView] = {}
        self.agents: dict[int, AgentView] = {}
        self.board = QueueBoard(seats.dispatcher, hub, self.live, self.customers,
                                read=self._store_queue if self.shared else None)

    async def _store_queue(self, team: str) -> dict[str, Any]:
        return await read_team_queue(self.repo.store, team, MAX_LISTED, PREVIEW_CHARS)

    @property
    def dispatcher(self) -> Dispatcher:
        return self.seats.dispatcher

    # --- reading state: the public calls other modules use ------------------------------------------------------

    async def conversation(self, conversation_id: int) -> ConvState | None:
        """The open conversation (None when closed or unknown); with several nodes, as the store has it now."""
        if not self.shared:
            return self.live.get(conversation_id)
        view = await self.repo.conversation(conversation_id)
        if view is None or view.status == "closed":
            self._forget(conversation_id)
            return None
        return self._refresh(view)

    async def open_conversation_of(self, customer_id: int) -> ConvState | None:
        """The customer's open conversation, if any."""
        if not self.shared:
            cid = self.live_by_customer.get(customer_id)
            return self.live.get(cid) if cid is not None else None
        view = await self.repo.latest_conversation(customer_id)
        if view is None or view.status == "closed":
            return None
        return self._refresh(view)

    def known_conversation(self, conversation_id: int) -> ConvState | None:
        """This node's copy of an open conversation, without asking the store (may be stale with several nodes)."""
        return self.live.get(conversation_id)

    def open_conversation_id(self, customer_id: int) -> int | None:
        """This node's idea of the customer's open conversation, without asking the store."""
        return self.live_by_customer.get(customer_id)

    def customer(self, customer_id: int) -> CustomerView | None:
        return self.customers.get(customer_id)

    def customer_changed(self, customer: CustomerView) -> None:
        """A newer profile (from an event): kept when this node holds the customer's copy."""
        if customer.id in self.customers or customer.id in self.live_by_customer:
            self.customers[customer.id] = customer

    def know_agent(self, view: AgentView) -> None:
        """An agent this node may hand conversations to, or its new name, teams or capacity."""
        self.agents[view.id] = view

    def restore(self, view: ConversationView) -> ConvState:
        """An open conversation read from the store at startup becomes this node's copy."""
        state = ConvState.from_view(view)
        self._go_live(state)
        return state

    def open_copies(self) -> list[ConvState]:
        """This node's copies of open conversations (one process: all of them)."""
        return list(self.live.values())

    def agent(self, agent_id: int) -> AgentView | None:
        return self.agents.get(agent_id)

    def agent_named(self, name: str) -> AgentView | None:
        return next((a for a in self.agents.values() if a.name == name), None)

    async def held_by(self, agent_id: int) -> list[ConvState]:
        """The open conversations the agent holds."""
        if not self.shared:
            return [s for s in self.live.values() if self.dispatcher.agent_of(s.id) == agent_id]
        return [self._refresh(view) for view in await self.repo.held_by(agent_id)]

    async def owns(self, agent_id: int, conversation_id: int) -> bool:
        return await self.seats.agent_of(conversation_id) == agent_id

    async def position(self, conversation_id: int) -> tuple[str, int] | None:
        """(team, place) of a waiting conversation."""
        return await self.seats.position(conversation_id)

    def _refresh(self, view: ConversationView) -> ConvState:
        """This node's copy brought up to the store's row (what only this node knows, it keeps)."""
        state = self.live.get(view.id)
        if state is None:
            state = ConvState.from_view(view)
            self._go_live(state)
        else:
            state.status, state.team, state.agent_id = view.status, view.team, view.agent_id
            state.priority, state.transfers, state.tags = view.priority, view.transfers, list(view.tags)
            state.last_seq = max(state.last_seq, view.last_seq)
            state.queued_at = view.queued_at or view.created_at
            self.live_by_customer[state.customer_id] = state.id
        return state

    def _forget(self, conversation_id: int) -> None:
        state = self.live.pop(conversation_id, None)
        if state is not None and self.live_by_customer.get(state.customer_id) == conversation_id:
            del self.live_by_customer[state.customer_id]

    def _guard(self, state: ConvState) -> dict[str, Any] | None:
        """What a compare-and-set checks with several nodes: the row still as this node read it."""
        return {"status": state.status, "agent_id": state.agent_id} if self.shared else None

    def _go_live(self, state: ConvState) -> None:
        self.live[state.id] = state
        self.live_by_customer[state.customer_id] = state.id

    async def load_customer(self, customer_id: int) -> CustomerView | None:
        customer = await self.repo.customer(customer_id)
        if customer is not None:
            self.customers[customer_id] = customer
        return customer

    async def _know_agents(self) -> None:
        """Agents created on another node since this one last looked."""
        for record in await list_agents(self.repo.store):
            if not record.disabled:
                self.agents[record.id] = AgentView(record.id, record.name, record.teams, record.capacity)


    # --- telling people ----------------------------------------------------------------------------------------

    async def assigned_frame(self, state: ConvState) -> tuple[Frame, int]:
        """The ``assigned`` frame of a conversation (with its recent transcript) and the seq it runs to."""
        recent = await self.repo.messages_after(state.id, max(0, state.last_seq - TRANSCRIPT_WITH_ASSIGNMENT),
                                                TRANSCRIPT_WITH_ASSIGNMENT)
        customer = self.customers.get(state.customer_id) or await self.load_customer(state.customer_id)
        unread = (await self.repo.unread_counts([state.id]))[state.id] if self.shared else state.unread
        body = {"type": "assigned", "conversation": {**state.view().to_dict(), "unread": unread},
                "customer": customer.to_dict() if customer else None, "messages": [m.to_frame() for m in recent]}
        return frame(body), recent[-1].seq if recent else 0

    def _announce_closed(self, state: ConvState, closed_by: str, rating: dict[str, Any] | None,
                         until: datetime | None) -> None:
        topic = conversation_topic(state.id)
        self.hub.publish(topic, frame({"type": "closed", "conversation_id": state.id, "closed_by": closed_by,
                                       "rating": rating, "rate_until": until.isoformat() if until else None}))
        self.hub.publish(topic, Unfollow(state.id))

    def _tell_agent_gone(self, agent_id: int, conversation_id: int, reason: str) -> None:
        topic = agent_topic(agent_id)
        self.hub.publish(topic, frame({"type": "unassigned", "conversation_id": conversation_id, "reason": reason}))
        self.hub.publish(topic, Unfollow(conversation_id))

    async def _announce_positions(self, *teams: str) -> None:
        """Tell every waiting visitor of these teams their place, when it changed (as far as this node knows:
        with several nodes a visitor may hear the same place twice, never a wrong one); and the teams' agents."""
        self.board.announce(*teams)
        for team in dict.fromkeys(teams):
            for cid, position in await self.seats.positions(team):
                state = self.live.get(cid)
                if state is not None and state.announced_position == position:
                    continue
                if state is not None:
                    state.announced_position = position
                elif not self.shared:
                    continue
                self.hub.publish(
                    conversation_topic(cid),
                    frame({"type": "queue", "conversation_id": cid, "team": team, "position": position}),
                )

