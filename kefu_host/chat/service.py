"""The conversation core: a message's path from socket to store to rules to assignment to push.

    visitor socket --> store_visitor_message  (stored; the commit publishes it to the conversation topic)
                   --> ack to the visitor
                   --> after_visitor_message (plugins hear it, the router decides, the decision is applied)

Every change to a conversation (placed, assigned, transferred, re-queued, closed) happens under that
conversation's lock, is written to the store, and only then announced on the bus. Agent presence, grace periods
and idle closing live in :mod:`kefu_host.chat.presence`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from kefu_host.chat.append import Appended, NewMessage
from kefu_host.chat.assignment import Assignment, Dispatcher
from kefu_host.chat.bus import Bus, agent_topic, conversation_topic, customer_topic
from kefu_host.chat.notes import agents_only
from kefu_host.chat.protocol import ack_body, frame, message_frame
from kefu_host.chat.ratings import Score, rate_until
from kefu_host.chat.repo import ChatRepo
from kefu_host.chat.routing import PRIORITY_NORMAL, RouteDecision, Router, Trigger
from kefu_host.chat.queues import QueueBoard
from kefu_host.chat.state import ConvState, KeyedLocks, LastMessage
from kefu_host.chat.values import TEXT, AgentView, CustomerView, MessageView
from kefu_host.config import ChatConfig
from kefu_host.hookcall import Hooks
from kefu_host.metrics import MetricsOff
from kefu_host.store import Store
from kefu_host.store.models import utcnow
from kefu_host.webhooks import events as webhook

log = structlog.get_logger("kefu_host.chat")

#: How many recent messages an agent gets with a newly assigned conversation (the rest over HTTP).
TRANSCRIPT_WITH_ASSIGNMENT = 50


class TakeRefused(Exception):
    """A ``take`` the host will not do: ``code`` is the error frame's."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True, slots=True)
class Visitor:
    """Who is on the visitor socket (from the signed visitor token)."""

    visitor_id: str
    customer_id: int


class ChatService:
    def __init__(
        self, config: ChatConfig, store: Store, bus: Bus, hooks: Hooks, router: Router, dispatcher: Dispatcher
    ) -> None:
        self.config = config
        self.repo = ChatRepo(store, on_stored=self.on_stored)
        self.bus = bus
        self.hooks = hooks
        self.router = router
        self.dispatcher = dispatcher
        self.live: dict[int, ConvState] = {}
        self.live_by_customer: dict[int, int] = {}
        self.customers: dict[int, CustomerView] = {}
        self.agents: dict[int, AgentView] = {}
        self.locks = KeyedLocks()
        self.board = QueueBoard(dispatcher, bus, self.live, self.customers)
        self.metrics = MetricsOff()

    # --- the commit hook: stored messages go out in commit order ---------------------------------------------

    def on_stored(self, message: MessageView, origin: int | None = None) -> None:
        state = self.live.get(message.conversation_id)
        if state is not None:
            state.last_seq = message.seq
            state.last_activity = time.monotonic()
            if message.sender == "visitor":
                state.last_visitor = LastMessage(message.seq, message.kind, message.body, message.created_at)
                state.unread += 1
                if self.dispatcher.position(state.id) is not None:  # waiting: its queue entry shows the message
                    self.board.announce(state.team)
            elif message.sender == "agent" and not agents_only(message.kind):
                state.unread = 0  # the agent answered: it has read what came before
        self.metrics.message_stored(message.sender, message.kind, message.conversation_id,
                                    state.queued_at if state is not None else None)
        ack = ack_body(message, duplicate=False) if origin is not None else None
        self.bus.publish(conversation_topic(message.conversation_id), message_frame(message, origin=origin, ack=ack))

    # --- visitors ----------------------------------------------------------------------------------------------

    async def store_visitor_message(
        self, visitor: Visitor, client_msg_id: str | None, body: str, origin: int | None = None, *,
        kind: str = TEXT, attachment: Mapping[str, Any] | None = None,
    ) -> tuple[Appended, ConvState, bool]:
        """Store a visitor's message in their conversation (opening or reopening it); nothing is routed yet.

        ``origin`` identifies the sending session, which gets an ack instead of the message itself.
        """
        state, opened = await self._conversation_for(visitor)
        appended = await self.repo.append(
            NewMessage(state.id, "visitor", visitor.visitor_id, client_msg_id, body, origin, kind, attachment)
        )
        return appended, state, opened

    async def after_visitor_message(self, state: ConvState, message: MessageView, opened: bool) -> None:
        """Plugins hear about the message, then the rules decide where the conversation belongs now."""
        if opened:
            await self.hooks.call("kefu_conversation_opened", conversation=state.view(), reopened=message.seq > 1)
        await self.hooks.call("kefu_message_received", conversation=state.view(), message=message)
        await self.route(state.id, "open" if opened else "message", message)

    async def _conversation_for(self, visitor: Visitor) -> tuple[ConvState, bool]:
        async with self.locks(("customer", visitor.customer_id)):
            live_id = self.live_by_customer.get(visitor.customer_id)
            if live_id is not None:
                return self.live[live_id], False
            await self.load_customer(visitor.customer_id)
            latest = await self.repo.latest_conversation(visitor.customer_id)
            if latest is None:
                view = await self.repo.create_conversation(
                    visitor.customer_id, visitor.visitor_id, self.config.default_team, PRIORITY_NORMAL
                )
                state = ConvState.from_view(view, visitor.visitor_id)
            else:
                now = utcnow()
                state = ConvState.from_view(latest, visitor.visitor_id)
                state.status, state.agent_id, state.queued_at = "queued", None, now
                await self.repo.update_conversation(
                    latest.id, status="queued", agent_id=None, queued_at=now, closed_at=None, closed_by=None,
                    rating=None, rating_comment=None, rated_at=None,  # the next close asks for a rating again
                    change=webhook.opened(state.view(), reopened=True),
                )
            self._go_live(state)
            # every tab of this visitor starts following the (re)opened conversation
            self.bus.publish(
                customer_topic(visitor.customer_id),
                frame({"type": "conversation", "conversation_id": state.id, "status": state.status},
                      follow=(state.id, state.last_seq)),
            )
            return state, True

    def _go_live(self, state: ConvState) -> None:
        self.live[state.id] = state
        self.live_by_customer[state.customer_id] = state.id

    async def load_customer(self, customer_id: int) -> CustomerView | None:
        customer = await self.repo.customer(customer_id)
        if customer is not None:
            self.customers[customer_id] = customer
        return customer

    def customer_changed(self, customer: CustomerView, changed: frozenset[str], cause: Mapping[str, Any]) -> None:
        """A customer's profile changed outside an event (a plugin wrote it): routing reads the new copy, and the
        agent holding their live conversation gets a ``profile_update`` frame carrying ``cause``."""
        live_id = self.live_by_customer.get(customer.id)
        if live_id is not None or customer.id in self.customers:
            self.customers[customer.id] = customer
        state = self.live.get(live_id) if live_id is not None else None
        if state is None or state.agent_id is None or not changed:
            return
        self.bus.publish(
            agent_topic(state.agent_id),
            frame({"type": "profile_update", "conversation_id": state.id, "customer": customer.to_dict(),
                   "changed": sorted(changed), **cause}),
        )

    # --- routing -----------------------------------------------------------------------------------------------

    async def route(self, conversation_id: int, trigger: Trigger, message: MessageView | None = None) -> None:
        """Ask the router where the conversation belongs and make it so."""
        async with self.locks(conversation_id):
            state = self.live.get(conversation_id)
            customer = self.customers.get(state.customer_id) if state else None
            if state is None or customer is None:
                return
            decision = await self.router.decide(trigger, state.view(), customer, message)
            await self._apply(state, decision, trigger)

    async def _apply(self, state: ConvState, decision: RouteDecision, trigger: Trigger) -> None:
        changes: dict[str, Any] = {}
        new_tags = [t for t in decision.tags if t not in state.tags]
        if new_tags:
            state.tags = [*state.tags, *new_tags]
            changes["tags"] = state.tags
        reprioritised = decision.priority is not None and decision.priority != state.priority
        if reprioritised:
            state.priority = changes["priority"] = decision.priority
        team = decision.team or state.team
        outcome, assignment, old_team = "kept", None, state.team
        if state.status == "queued" and (
            trigger != "message" or team != state.team or reprioritised or decision.transfer
        ):
            state.team = changes["team"] = team
            assignment = self.dispatcher.place(
                state.id, state.team, state.priority, state.queued_at, prefer=self._preferred(state, decision)
            )
            outcome = "assigned" if assignment else "queued"
        elif state.status == "assigned" and decision.transfer and team != state.team:
            outcome = "transferred"
        if changes:
            await self.repo.update_conversation(state.id, **changes)
        if trigger != "message" or outcome != "kept" or decision.fired != state.last_fired:
            state.last_fired = decision.fired
            await self.repo.record_decision(
                state.id, trigger, decision.revision, decision.fired, decision.actions, team, outcome
            )
        # the decision is on record; now act on it and tell people
        if assignment:
            await self._assigned([assignment])
        if outcome in ("assigned", "queued"):
            self._announce_positions(old_team, state.team)
        elif outcome == "transferred":
            await self._transfer(state, team, None, f"rule:{decision.team_rule}")
        if decision.auto_replies and outcome != "kept":
            for text in decision.auto_replies:
                await self.repo.append(NewMessage(state.id, "system", "auto_reply", None, text))

    def _preferred(self, state: ConvState, decision: RouteDecision) -> str | None:
        if decision.prefer_agent:
            return decision.prefer_agent
        customer = self.customers.get(state.customer_id)
        if customer is None:
            return None
        answer = self.hooks.call_first("kefu_preferred_agent", conversation=state.view(), customer=customer)
        return answer if isinstance(answer, str) else None

    # --- assignment, transfer, close -------------------------------------------------------------------------

    async def _assigned(self, assignments: list[Assignment]) -> None:
        """Record assignments the dispatcher made and tell the agent and the visitor."""
        for a in assignments:
            state = self.live[a.conversation_id]
            state.status, state.agent_id, state.team = "assigned", a.agent_id, a.team
            state.announced_position = None
            agent = self.agents[a.agent_id]
            await self.repo.update_conversation(
                state.id, status="assigned", agent_id=a.agent_id, team=a.team, assigned_at=utcnow(),
                change=webhook.assigned(state.view(), agent),
            )
            self.metrics.assigned(a.team, state.queued_at)
            recent = await self.repo.messages_after(state.id, max(0, state.last_seq - TRANSCRIPT_WITH_ASSIGNMENT),
                                                    TRANSCRIPT_WITH_ASSIGNMENT)
            upto = recent[-1].seq if recent else 0
            customer = self.customers.get(state.customer_id)
            self.bus.publish(
                agent_topic(a.agent_id),
                frame(
                    {
                        "type": "assigned",
                        "conversation": {**state.view().to_dict(), "unread": state.unread},
                        "customer": customer.to_dict() if customer else None,
                        "messages": [m.to_frame() for m in recent],
                    },
                    follow=(state.id, upto),
                ),
            )
            self.bus.publish(
                conversation_topic(state.id),
                frame({"type": "agent_joined", "conversation_id": state.id, "agent": agent.name, "team": a.team}),
            )
            await self.hooks.call("kefu_conversation_assigned", conversation=state.view(), agent=agent)
        self._announce_positions(*(a.team for a in assignments))  # everyone behind them moved up

    async def take(self, agent_id: int, conversation_id: int) -> None:
        """An agent takes a waiting chat of one of its teams from the queue (its capacity allowing, even while
        away: taking is the agent's own choice). Raises :class:`TakeRefused` saying why not."""
        async with self.locks(conversation_id):
            state = self.live.get(conversation_id)
            ticket = self.dispatcher.position(conversation_id)
            agent = self.agents[agent_id]
            if state is None or ticket is None or state.team not in agent.teams:
                raise TakeRefused("not_queued", f"conversation {conversation_id} is not waiting in your teams' queues")
            assignment = self.dispatcher.take(conversation_id, agent_id)
            if assignment is None:
                raise TakeRefused("at_capacity", f"you already hold {agent.capacity} conversations (your capacity)")
            await self._assigned([assignment])

    async def transfer(self, conversation_id: int, *, team: str | None, agent: str | None, reason: str) -> None:
        async with self.locks(conversation_id):
            state = self.live.get(conversation_id)
            if state is None:
                raise LookupError(f"conversation {conversation_id} is not open")
            await self._transfer(state, team or state.team, agent, reason)

    async def _transfer(self, state: ConvState, team: str, prefer: str | None, reason: str) -> None:
        from_team, previous = state.team, self.dispatcher.release(state.id)
        state.status, state.agent_id, state.team = "queued", None, team
        state.transfers += 1
        await self.repo.update_conversation(
            state.id, status="queued", agent_id=None, team=team, transfers=state.transfers,
            change=webhook.transferred(state.view(), from_team, team, reason),
        )
        if previous is not None:
            self._tell_agent_gone(previous, state.id, reason)
        await self.hooks.call(
            "kefu_conversation_transferred", conversation=state.view(), from_team=from_team, to_team=team,
            reason=reason,
        )
        assignment = self.dispatcher.place(state.id, team, state.priority, state.queued_at, prefer=prefer)
        if assignment:
            await self._assigned([assignment])
        self._announce_positions(from_team, team)
        if previous is not None:
            await self._assigned(self.dispatcher.drain_agent(previous))

    async def close(self, conversation_id: int, closed_by: str, score: Score | None = None) -> bool:
        """Close a live conversation (rated with ``score`` when the visitor closes with one); returns False when it
        was not open. The ``closed`` frame asks the visitor for a rating while ``chat.rating_window`` allows."""
        async with self.locks(conversation_id):
            state = self.live.pop(conversation_id, None)
            if state is None:
                return False
            self.live_by_customer.pop(state.customer_id, None)
            agent_id = self.dispatcher.release(conversation_id)
            state.status = "closed"
            now = utcnow()
            until = rate_until(now, self.config.rating_window)
            rating = score.at(now) if score is not None and until is not None else None
            values: dict[str, Any] = {"status": "closed", "closed_at": now, "closed_by": closed_by, "updated_at": now}
            changes = [webhook.closed(state.view(), closed_by, rating, until)]
            if rating is not None:
                values.update(rating=rating.score, rating_comment=rating.comment, rated_at=now)
                changes.append(webhook.rated(state.view(), rating, None, closed_by))
            await self.repo.update_conversation(conversation_id, change=changes, **values)
            self.bus.publish(
                conversation_topic(conversation_id),
                frame({"type": "closed", "conversation_id": conversation_id, "closed_by": closed_by,
                       "rating": rating.to_dict() if rating else None,
                       "rate_until": until.isoformat() if until else None},
                      unfollow=conversation_id),
            )
            await self.hooks.call("kefu_conversation_closed", conversation=state.view(), closed_by=closed_by)
        self._announce_positions(state.team)
        if agent_id is not None:
            await self._assigned(self.dispatcher.drain_agent(agent_id))
        return True

    async def requeue(self, conversation_ids: list[int]) -> None:
        """Conversations whose agent went away wait in their team's queue again, keeping their place."""
        teams = set()
        for cid in conversation_ids:
            state = self.live.get(cid)
            if state is None:
                continue
            async with self.locks(cid):
                state.status, state.agent_id = "queued", None
                teams.add(state.team)
                await self.repo.update_conversation(
                    cid, status="queued", agent_id=None,
                    change=webhook.transferred(state.view(), state.team, state.team, "requeue"),
                )
                self.bus.publish(conversation_topic(cid), frame({"type": "requeued", "conversation_id": cid}))
                await self.hooks.call(
                    "kefu_conversation_transferred", conversation=state.view(), from_team=state.team,
                    to_team=state.team, reason="requeue",
                )
                await self.repo.record_decision(cid, "requeue", "none", (), (), state.team, "queued")
        for team in teams:
            await self._assigned(self.dispatcher.drain_team(team))
        self._announce_positions(*teams)

    def _tell_agent_gone(self, agent_id: int, conversation_id: int, reason: str) -> None:
        self.bus.publish(
            agent_topic(agent_id),
            frame({"type": "unassigned", "conversation_id": conversation_id, "reason": reason},
                  unfollow=conversation_id),
        )

    def mark_read(self, conversation_id: int, seq: int) -> None:
        """The agent holding the conversation has read up to ``seq``."""
        state = self.live.get(conversation_id)
        if state is not None and (state.last_visitor is None or seq >= state.last_visitor.seq):
            state.unread = 0

    def _announce_positions(self, *teams: str) -> None:
        """Tell every waiting visitor of these teams their place, when it changed; and the teams' agents."""
        self.board.announce(*teams)
        for team in dict.fromkeys(teams):
            for cid, position in self.dispatcher.positions(team):
                state = self.live.get(cid)
                if state is not None and state.announced_position != position:
                    state.announced_position = position
                    self.bus.publish(
                        conversation_topic(cid),
                        frame({"type": "queue", "conversation_id": cid, "team": team, "position": position}),
                    )

    # --- agents' messages --------------------------------------------------------------------------------------

    def owns(self, agent_id: int, conversation_id: int) -> bool:
        return self.dispatcher.agent_of(conversation_id) == agent_id

    async def store_agent_message(
        self, agent_id: int, conversation_id: int, client_msg_id: str | None, body: str, origin: int | None = None, *,
        kind: str = TEXT, attachment: Mapping[str, Any] | None = None,
    ) -> Appended:
        """Store an agent's message, note (``kind`` note: agents only) or attachment."""
        agent = self.agents[agent_id]
        return await self.repo.append(
            NewMessage(conversation_id, "agent", agent.name, client_msg_id, body, origin, kind, attachment)
        )

    async def after_agent_message(self, conversation_id: int, message: MessageView) -> None:
        state = self.live.get(conversation_id)
        # plugins may forward what they hear to the customer: a note is not theirs to hear (kefu_host.chat.notes)
        if state is not None and not agents_only(message.kind):
            await self.hooks.call("kefu_message_received", conversation=state.view(), message=message)
