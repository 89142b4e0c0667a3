"""The conversation core: a message's path from socket to store to rules to assignment to push.

    visitor socket --> store_visitor_message  (stored; the ack goes to the sender, the message to the
                                               conversation's topic through the broker)
                   --> after_visitor_message (plugins hear it, the router decides, the decision is applied)

Every change to a conversation (placed, assigned, transferred, re-queued, closed) happens under that
conversation's lock, is written to the store, and only then announced through the hub. Who gets which conversation
is the :class:`~kefu_host.chat.seats.Seats`' business: memory on one process, the database for several nodes. With
several nodes (``seats.shared``) the service reads a conversation from the store before changing it and every
change is a compare-and-set, so a node whose copy is stale changes nothing (and tells nobody). Agent presence, grace
periods and idle closing live in :mod:`kefu_host.chat.presence` (and :mod:`kefu_host.chat.cluster_presence`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from kefu_host.chat.append import Appended, ConversationClosed, NewMessage
from kefu_host.chat.assignment import Assignment
from kefu_host.chat.broker import Follow, agent_topic, conversation_topic, customer_topic
from kefu_host.chat.hub import Hub
from kefu_host.chat.live import LiveState
from kefu_host.chat.notes import agents_only
from kefu_host.chat.protocol import ack_body, frame, message_frame
from kefu_host.chat.ratings import Score, rate_until
from kefu_host.chat.repo import ChatRepo
from kefu_host.chat.routing import PRIORITY_NORMAL, RouteDecision, Router, Trigger
from kefu_host.chat.seats import Seats
from kefu_host.chat.session import Session
from kefu_host.chat.state import ConvState, KeyedLocks, LastMessage
from kefu_host.chat.values import TEXT, ConversationView, CustomerView, MessageView
from kefu_host.config import ChatConfig
from kefu_host.hookcall import Hooks
from kefu_host.metrics import MetricsOff
from kefu_host.store import Store
from kefu_host.store.models import utcnow
from kefu_host.webhooks import events as webhook

log = structlog.get_logger("kefu_host.chat")



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


class ChatService(LiveState):
    def __init__(self, config: ChatConfig, store: Store, hub: Hub, hooks: Hooks, router: Router, seats: Seats) -> None:
        self.config = config
        self.repo = ChatRepo(store)
        self.hub = hub
        self.hooks = hooks
        self.router = router
        self.locks = KeyedLocks()
        LiveState.__init__(self, self.repo, seats, hub)
        self.metrics = MetricsOff()

    # --- stored messages go out: the ack to its sender, the message to the conversation's topic -----------------

    def _stored(self, appended: Appended, sender: Session | None) -> None:
        """Tell the sender (first: its ack takes the message's place in its stream) and then everyone else.

        Publications of two messages may cross; a socket that sees a seq jump reads the gap from the store.
        """
        message = appended.message
        ack = frame(ack_body(message, appended.duplicate))
        if appended.duplicate:
            if sender is not None:
                sender.conn.send(ack)
            return
        state = self.live.get(message.conversation_id)
        if state is not None:
            state.last_seq = max(state.last_seq, message.seq)
            state.last_activity = time.monotonic()
            if message.sender == "visitor":
                state.last_visitor = LastMessage(message.seq, message.kind, message.body, message.created_at)
                state.unread += 1
                if state.status == "queued":  # waiting: its queue entry shows the message
                    self.board.announce(state.team)
            elif message.sender == "agent" and not agents_only(message.kind):
                state.unread = 0  # the agent answered: it has read what came before
        self.metrics.message_stored(message.sender, message.kind, message.conversation_id,
                                    state.queued_at if state is not None else None)
        published = message_frame(message)
        if sender is not None:
            sender.acked(published, ack)
        self.hub.publish(conversation_topic(message.conversation_id), published)

    # --- visitors ----------------------------------------------------------------------------------------------

    async def store_visitor_message(
        self, visitor: Visitor, client_msg_id: str | None, body: str, sender: Session | None = None, *,
        kind: str = TEXT, attachment: Mapping[str, Any] | None = None,
    ) -> tuple[Appended, ConvState, bool]:
        """Store a visitor's message in their conversation (opening or reopening it); nothing is routed yet.

        ``sender`` is the sending session, which gets an ack instead of the message itself.
        """
        known = self.open_conversation_id(visitor.customer_id) if self.shared else None
        if known is not None:
            # several nodes: the append checks the conversation is still open and returns its row, under the lock
            # it takes anyway, instead of a read before it and another before routing
            try:
                appended = await self.repo.append(NewMessage(
                    known, "visitor", visitor.visitor_id, client_msg_id, body, None, kind, attachment, if_open=True
                ))
            except ConversationClosed:
                pass  # closed on another node: reopened below, as on first contact
            else:
                state = self._refresh(appended.conversation) if appended.conversation else None
                if state is None:  # a resend: the conversation was open when it was first stored
                    state, _ = await self._conversation_for(visitor)
                elif visitor.customer_id not in self.customers:
                    await self.load_customer(visitor.customer_id)
                self._stored(appended, sender)
                return appended, state, False
        state, opened = await self._conversation_for(visitor)
        appended = await self.repo.append(
            NewMessage(state.id, "visitor", visitor.visitor_id, client_msg_id, body, None, kind, attachment)
        )
        self._stored(appended, sender)
        return appended, state, opened

    async def after_visitor_message(self, state: ConvState, message: MessageView, opened: bool) -> None:
        """Plugins hear about the message, then the rules decide where the conversation belongs now."""
        if opened:
            await self.hooks.call("kefu_conversation_opened", conversation=state.view(), reopened=message.seq > 1)
        await self.hooks.call("kefu_message_received", conversation=state.view(), message=message)
        await self.route(state.id, "open" if opened else "message", message, current=state)

    async def _conversation_for(self, visitor: Visitor) -> tuple[ConvState, bool]:
        async with self.locks(("customer", visitor.customer_id)):
            for _ in range(3):  # with several nodes another may reopen it first: then it is simply open
                state = await self.open_conversation_of(visitor.customer_id)
                if state is not None:
                    if visitor.customer_id not in self.customers:
                        await self.load_customer(visitor.customer_id)
                    return state, False
                opened = await self._open(visitor)
                if opened is not None:
                    return opened, True
            raise RuntimeError(f"customer {visitor.customer_id}: the conversation keeps changing under us")

    async def _open(self, visitor: Visitor) -> ConvState | None:
        await self.load_customer(visitor.customer_id)
        latest = await self.repo.latest_conversation(visitor.customer_id)
        if latest is None:
            view = await self.repo.create_conversation(
                visitor.customer_id, visitor.visitor_id, self.config.default_team, PRIORITY_NORMAL
            )
            if view is None:
                return None  # another node opened the customer's conversation first: read it again
            state = ConvState.from_view(view, visitor.visitor_id)
        else:
            if latest.status != "closed":
                return self._refresh(latest) if self.shared else None
            now = utcnow()
            state = ConvState.from_view(latest, visitor.visitor_id)
            state.status, state.agent_id, state.queued_at = "queued", None, now
            reopened = await self.repo.update_conversation(
                latest.id, status="queued", agent_id=None, queued_at=now, closed_at=None, closed_by=None,
                rating=None, rating_comment=None, rated_at=None,  # the next close asks for a rating again
                change=webhook.opened(state.view(), reopened=True),
                expect={"status": "closed"} if self.shared else None,
            )
            if not reopened:
                return None  # another node reopened it: read it again
        self._go_live(state)
        # every tab of this visitor starts following the (re)opened conversation
        topic = customer_topic(visitor.customer_id)
        self.hub.publish(topic, Follow(state.id, state.last_seq))
        self.hub.publish(topic, frame({"type": "conversation", "conversation_id": state.id,
                                       "status": state.status}))
        return state

    async def customer_updated(self, customer: CustomerView, changed: frozenset[str],
                               cause: Mapping[str, Any]) -> None:
        """A customer's profile changed outside an event (a plugin wrote it): routing reads the new copy, and the
        agent holding their open conversation (on whichever node) gets a ``profile_update`` frame carrying
        ``cause``."""
        self.customer_changed(customer)
        if not changed:
            return
        state = await self.open_conversation_of(customer.id)
        if state is None or state.agent_id is None:
            return
        self.hub.publish(
            agent_topic(state.agent_id),
            frame({"type": "profile_update", "conversation_id": state.id, "customer": customer.to_dict(),
                   "changed": sorted(changed), **cause}),
        )

    # --- routing -----------------------------------------------------------------------------------------------

    async def route(self, conversation_id: int, trigger: Trigger, message: MessageView | None = None, *,
                    current: ConvState | None = None) -> None:
        """Ask the router where the conversation belongs and make it so. ``current``: this node's copy as the
        store gave it just now (with the message being routed); with several nodes it is not read again."""
        async with self.locks(conversation_id):
            if current is not None and current.status != "closed" and self.known_conversation(current.id) is current:
                state: ConvState | None = current
            else:
                state = await self.conversation(conversation_id)
            if state is None:
                return
            customer = self.customers.get(state.customer_id)
            if customer is None or self.shared and trigger != "message":
                customer = await self.load_customer(state.customer_id)  # an event on another node changed it
            if customer is None:
                return
            if trigger == "event":
                # an event's re-route is not owed to anyone waiting: when the chat lane is full it is skipped
                # (StoreBusy before anything is decided), else a flood of events would write past the lane's bound
                self.repo.store.writer.admit()
            decision = await self.router.decide(trigger, state.view(), customer, message)
            await self._apply(state, decision, trigger)

    async def _apply(self, state: ConvState, decision: RouteDecision, trigger: Trigger) -> None:
        """Make the router's decision so. Its writes are not refused by a full chat lane: a route follows a message
        already stored (a few writes per admitted message) or an event admitted by :meth:`route`, and a refusal
        halfway would leave the conversation placed (in the dispatcher, or in PostgreSQL) but not recorded, or
        changed in this copy but never queued, with nobody told."""
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
        placing = state.status == "queued" and (
            trigger != "message" or team != state.team or reprioritised or decision.transfer
        )
        if placing:
            state.team = changes["team"] = team
        if changes:
            await self.repo.update_conversation(state.id, **changes, bounded=False)
        if placing:
            assignment = await self.seats.place(
                state.id, state.team, state.priority, state.queued_at, prefer=self._preferred(state, decision)
            )
            outcome = "assigned" if assignment else "queued"
        elif state.status == "assigned" and decision.transfer and team != state.team:
            outcome = "transferred"
        if trigger != "message" or outcome != "kept" or decision.fired != state.last_fired:
            state.last_fired = decision.fired
            await self.repo.record_decision(
                state.id, trigger, decision.revision, decision.fired, decision.actions, team, outcome, bounded=False
            )
        # the decision is on record; now act on it and tell people
        if assignment:
            await self.assigned([assignment], bounded=False)
        if outcome in ("assigned", "queued"):
            await self._announce_positions(old_team, state.team)
        elif outcome == "transferred":
            await self._transfer(state, team, None, f"rule:{decision.team_rule}")
        if decision.auto_replies and outcome != "kept":
            for text in decision.auto_replies:
                self._stored(await self.repo.append(NewMessage(state.id, "system", "auto_reply", None, text)), None)

    def _preferred(self, state: ConvState, decision: RouteDecision) -> str | None:
        if decision.prefer_agent:
            return decision.prefer_agent
        customer = self.customers.get(state.customer_id)
        if customer is None:
            return None
        answer = self.hooks.call_first("kefu_preferred_agent", conversation=state.view(), customer=customer)
        return answer if isinstance(answer, str) else None

    # --- assignment, transfer, close -------------------------------------------------------------------------

    async def assigned(self, assignments: list[Assignment], *, bounded: bool = True) -> None:
        """Record assignments the seats made and tell the agent and the visitor (``bounded``: see
        :meth:`~kefu_host.store.writer.GroupWriter.submit`)."""
        for a in assignments:
            state = self.live.get(a.conversation_id)
            if state is None:
                state = await self.conversation(a.conversation_id)
                if state is None:
                    continue
            state.status, state.agent_id, state.team = "assigned", a.agent_id, a.team
            state.announced_position = None
            agent = self.agents.get(a.agent_id)
            if agent is None:
                await self._know_agents()
                agent = self.agents[a.agent_id]
            # with several nodes the seats already wrote it; this write then only reports it, if it still holds
            await self.repo.update_conversation(
                state.id, status="assigned", agent_id=a.agent_id, team=a.team, assigned_at=utcnow(),
                change=webhook.assigned(state.view(), agent),
                expect={"status": "assigned", "agent_id": a.agent_id} if self.shared else None, bounded=bounded,
            )
            self.metrics.assigned(a.team, state.queued_at)
            assigned, upto = await self.assigned_frame(state)
            self.hub.publish(agent_topic(a.agent_id), Follow(state.id, upto))
            self.hub.publish(agent_topic(a.agent_id), assigned)
            self.hub.publish(
                conversation_topic(state.id),
                frame({"type": "agent_joined", "conversation_id": state.id, "agent": agent.name, "team": a.team}),
            )
            await self.hooks.call("kefu_conversation_assigned", conversation=state.view(), agent=agent)
        await self._announce_positions(*(a.team for a in assignments))  # everyone behind them moved up

    async def take(self, agent_id: int, conversation_id: int) -> None:
        """An agent takes a waiting chat of one of its teams from the queue (its capacity allowing, even while
        away: taking is the agent's own choice). Raises :class:`TakeRefused` saying why not, and
        :class:`~kefu_host.store.StoreBusy` when the writer's chat lane is full, before anything is decided: the
        seats' choice is made before it is written, so a write refused after it would leave the chat taken (in the
        dispatcher, or in PostgreSQL on several nodes) without anyone told, and the agent's ``take`` sent again
        would find it gone. Once admitted, the write that records the take is not refused."""
        async with self.locks(conversation_id):
            state = await self.conversation(conversation_id)
            placed = await self.seats.position(conversation_id)
            agent = self.agents.get(agent_id)
            if agent is None and self.shared:
                await self._know_agents()
                agent = self.agents.get(agent_id)
            if state is None or placed is None or agent is None or placed[0] not in agent.teams:
                raise TakeRefused("not_queued", f"conversation {conversation_id} is not waiting in your teams' queues")
            self.repo.store.writer.admit()
            assignment = await self.seats.take(conversation_id, agent_id, placed[0])
            if assignment is None:
                still = await self.seats.position(conversation_id)
                if still is None or still[0] != placed[0]:  # another agent (node) took or moved it first
                    raise TakeRefused("not_queued",
                                      f"conversation {conversation_id} is not waiting in your teams' queues")
                raise TakeRefused("at_capacity", f"you already hold {agent.capacity} conversations (your capacity)")
            await self.assigned([assignment], bounded=False)

    async def transfer(self, conversation_id: int, *, team: str | None, agent: str | None, reason: str) -> None:
        """Move an open conversation to ``team`` (preferring ``agent``). Raises LookupError when it is not open,
        :class:`~kefu_host.store.StoreBusy` when the writer's chat lane is full, before anything is decided: the
        seat is released before the transfer is written, so a refusal after it would leave the conversation
        assigned in the store but seatless in the dispatcher, nobody told. Once admitted, nothing is refused."""
        async with self.locks(conversation_id):
            state = await self.conversation(conversation_id)
            if state is None:
                raise LookupError(f"conversation {conversation_id} is not open")
            self.repo.store.writer.admit()
            await self._transfer(state, team or state.team, agent, reason)

    async def _transfer(self, state: ConvState, team: str, prefer: str | None, reason: str) -> None:
        """Its writes are unrefusable (admitted by :meth:`transfer`, or part of a route: see :meth:`_apply`)."""
        from_team, guard = state.team, self._guard(state)
        previous = await self.seats.release(state.id)
        transfers = state.transfers + 1
        changed = await self.repo.update_conversation(
            state.id, status="queued", agent_id=None, team=team, transfers=transfers,
            change=webhook.transferred(state.view()._replace(status="queued", agent_id=None, team=team,
                                                     transfers=transfers), from_team, team, reason),
            expect=guard, bounded=False,
        )
        if not changed:
            return  # another node changed it first (closed it, say): nothing to move
        state.status, state.agent_id, state.team, state.transfers = "queued", None, team, transfers
        if previous is not None:
            self._tell_agent_gone(previous, state.id, reason)
        await self.hooks.call(
            "kefu_conversation_transferred", conversation=state.view(), from_team=from_team, to_team=team,
            reason=reason,
        )
        assignment = await self.seats.place(state.id, team, state.priority, state.queued_at, prefer=prefer)
        if assignment:
            await self.assigned([assignment], bounded=False)
        await self._announce_positions(from_team, team)
        if previous is not None:
            await self.assigned(await self.seats.drain_agent(previous), bounded=False)

    async def close(self, conversation_id: int, closed_by: str, score: Score | None = None) -> bool:
        """Close a live conversation (rated with ``score`` when the visitor closes with one); returns False when it
        was not open (or another node closed it first). The ``closed`` frame asks the visitor for a rating while
        ``chat.rating_window`` allows. Raises :class:`~kefu_host.store.StoreBusy` when the writer's chat lane is
        full, before anything is decided (on one process the seat is released before the close is written); once
        admitted, the close and the refill of the agent it frees are not refused."""
        async with self.locks(conversation_id):
            state = await self.conversation(conversation_id)
            if state is None:
                return False
            self.repo.store.writer.admit()
            guard = {"status": ("queued", "assigned")} if self.shared else None
            agent_id = state.agent_id if self.shared else await self.seats.release(conversation_id)
            now = utcnow()
            until = rate_until(now, self.config.rating_window)
            rating = score.at(now) if score is not None and until is not None else None
            values: dict[str, Any] = {"status": "closed", "closed_at": now, "closed_by": closed_by, "updated_at": now}
            closed_view = state.view()._replace(status="closed")
            changes = [webhook.closed(closed_view, closed_by, rating, until)]
            if rating is not None:
                values.update(rating=rating.score, rating_comment=rating.comment, rated_at=now)
                changes.append(webhook.rated(closed_view, rating, None, closed_by))
            if not await self.repo.update_conversation(conversation_id, change=changes, expect=guard, bounded=False,
                                                       **values):
                self._forget(conversation_id)
                return False  # another node closed it: it told everyone
            self._forget(conversation_id)
            state.status = "closed"
            self._announce_closed(state, closed_by, rating.to_dict() if rating else None, until)
            await self.hooks.call("kefu_conversation_closed", conversation=state.view(), closed_by=closed_by)
        await self._announce_positions(state.team)
        if agent_id is not None:
            await self.assigned(await self.seats.drain_agent(agent_id), bounded=False)
        return True

    async def closed_elsewhere(self, view: ConversationView, closed_by: str) -> None:
        """A close this node won by a claim (idle closing with several nodes): tell everyone, fire the hook, refill
        the agent (unrefusable writes: the close is already committed, the refill already decided)."""
        state = self.live.get(view.id) or ConvState.from_view(view)
        self._forget(view.id)
        state.status = "closed"
        until = rate_until(utcnow(), self.config.rating_window)
        self._announce_closed(state, closed_by, None, until)
        await self.hooks.call("kefu_conversation_closed", conversation=state.view(), closed_by=closed_by)
        await self._announce_positions(state.team)
        if view.agent_id is not None:
            await self.assigned(await self.seats.drain_agent(view.agent_id), bounded=False)

    async def requeue(self, conversation_ids: list[int], *, claimed: dict[int, ConversationView] | None = None) -> None:
        """Conversations whose agent went away wait in their team's queue again, keeping their place.

        ``claimed``: with several nodes, the rows this node's claim re-queued (store and webhooks already written).
        The dispatcher (or the claim) has already moved them, and no one waits for an answer: the writes that record
        it are not refused by a full chat lane (one per conversation the agent held, and the refills).
        """
        teams = set()
        for cid in conversation_ids:
            async with self.locks(cid):
                if claimed is not None:
                    state = self._refresh(claimed[cid])
                    previous = claimed[cid].agent_id
                else:
                    state = self.live.get(cid)
                    if state is None:
                        continue
                    previous = state.agent_id
                state.status, state.agent_id = "queued", None
                teams.add(state.team)
                if claimed is None:
                    await self.repo.update_conversation(
                        cid, status="queued", agent_id=None,
                        change=webhook.transferred(state.view(), state.team, state.team, "requeue"), bounded=False,
                    )
                elif previous is not None:
                    self._tell_agent_gone(previous, cid, "requeue")
                self.hub.publish(conversation_topic(cid), frame({"type": "requeued", "conversation_id": cid}))
                await self.hooks.call(
                    "kefu_conversation_transferred", conversation=state.view(), from_team=state.team,
                    to_team=state.team, reason="requeue",
                )
                await self.repo.record_decision(cid, "requeue", "none", (), (), state.team, "queued", bounded=False)
        for team in teams:
            await self.assigned(await self.seats.drain_team(team), bounded=False)
        await self._announce_positions(*teams)

    async def mark_read(self, conversation_id: int, seq: int) -> None:
        """The agent holding the conversation has read up to ``seq``: stored, so that every node and a restarted
        host count the same (:meth:`unread`)."""
        state = self.live.get(conversation_id)
        if state is not None and (state.last_visitor is None or seq >= state.last_visitor.seq):
            state.unread = 0
        await self.repo.mark_read(conversation_id, seq)

    async def unread(self, states: list[ConvState]) -> dict[int, int]:
        """Each conversation's unread count: this node's copy on one process (it sees every message), the store's
        with several nodes (a visitor's messages are counted by the node that stores them)."""
        if not self.shared:
            return {s.id: s.unread for s in states}
        return await self.repo.unread_counts([s.id for s in states])

    # --- agents' messages --------------------------------------------------------------------------------------

    async def store_agent_message(
        self, agent_id: int, conversation_id: int, client_msg_id: str | None, body: str,
        sender: Session | None = None, *, kind: str = TEXT, attachment: Mapping[str, Any] | None = None,
        held: bool = False,
    ) -> Appended:
        """Store an agent's message, note (``kind`` note: agents only) or attachment; ``sender`` gets the ack.
        ``held``: the append itself checks that the agent holds the conversation (:class:`NotHeld` if not), for
        a caller that has not asked."""
        agent = self.agents[agent_id]
        appended = await self.repo.append(NewMessage(conversation_id, "agent", agent.name, client_msg_id, body,
                                                     None, kind, attachment, if_held_by=agent_id if held else None))
        self._stored(appended, sender)
        return appended

    async def store_system_message(self, conversation_id: int, sender_id: str, key: str | None, text: str) -> Appended:
        """Store a system message (a plugin's: ``sender_id`` names it; ``key`` makes it idempotent) and publish it
        to both sides; a duplicate is not published again. UnknownConversation when there is no such
        conversation."""
        appended = await self.repo.append(NewMessage(conversation_id, "system", sender_id, key, text))
        self._stored(appended, None)
        return appended

    async def after_agent_message(self, conversation_id: int, message: MessageView) -> None:
        state = self.live.get(conversation_id)
        # plugins may forward what they hear to the customer: a note is not theirs to hear (kefu_host.chat.notes)
        if state is not None and not agents_only(message.kind):
            await self.hooks.call("kefu_message_received", conversation=state.view(), message=message)
