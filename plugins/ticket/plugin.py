"""The ticket plugin's hooks: agent actions, the ``ticket.changed`` event, the ``ticket.open_count`` field."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from aiohttp import web
from sqlalchemy.exc import InterfaceError, OperationalError

from kefu_host.sdk import (
    ActionContext,
    ActionError,
    AgentAction,
    ConversationView,
    CustomerView,
    Event,
    EventType,
    FieldSpec,
    FieldType,
    MessageView,
    PluginHost,
    hookimpl,
    utcnow,
)

from . import routes
from .settings import TicketSettings
from .store import STATUSES, NewTicket, Ticket, TicketNotFound, TicketStore

log = structlog.get_logger("kefu_plugin.ticket")

#: Database failures an agent should see as "try again later", not as a plugin crash.
_DB_DOWN = (OperationalError, InterfaceError, OSError)

#: Ticket numbers fit a 32-bit integer column on every database.
_TICKET_ID = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
CHANGED_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "required": ["uid", "status"],
    "anyOf": [{"required": ["ticket_id"]}, {"required": ["external_id"]}],
    "properties": {
        "uid": {"type": "string", "minLength": 1, "maxLength": 191},
        "ticket_id": {"anyOf": [_TICKET_ID, {"type": "string", "pattern": "^[1-9][0-9]{0,8}$"}]},
        "external_id": {"type": "string", "minLength": 1, "maxLength": 191},
        "status": {"enum": list(STATUSES)},
        "subject": {"type": "string", "minLength": 1, "maxLength": 255},
    },
}


class OpenCounts:
    """Open-ticket counts by customer, kept ``ttl`` seconds: routing asks before every decision.

    Writes through this plugin forget the customer's entry at once; the TTL bounds how long a write by another
    process sharing the database stays unseen.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._values: dict[tuple[str, Any], tuple[float, int]] = {}

    @staticmethod
    def key(uid: str | None, customer_id: int | None) -> tuple[str, Any]:
        return ("uid", uid) if uid is not None else ("customer", customer_id)

    def get(self, key: tuple[str, Any]) -> int | None:
        hit = self._values.get(key)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, key: tuple[str, Any], value: int) -> None:
        if self.ttl > 0:
            self._values[key] = (time.monotonic() + self.ttl, value)

    def forget(self, uid: str | None, customer_id: int | None) -> None:
        self._values.pop(("uid", uid), None)
        self._values.pop(("customer", customer_id), None)


class TicketPlugin:
    def __init__(self, settings: TicketSettings) -> None:
        self.settings = settings
        self.store: TicketStore | None = None
        self.counts = OpenCounts(settings.facts_ttl)
        self.host: PluginHost | None = None
        self._opening = asyncio.Lock()

    # --- lifecycle ------------------------------------------------------------------------------------------

    @hookimpl
    async def kefu_startup(self, host: PluginHost) -> None:
        self.host = host
        await (
            self._open()
        )  # a failure shows in /api/plugins; the next call that needs the database tries again

    @hookimpl
    async def kefu_shutdown(self) -> None:
        if self.store is not None:
            store, self.store = self.store, None
            await store.close()

    async def _open(self) -> TicketStore:
        async with self._opening:
            if self.store is None:
                if self.host is None:
                    raise RuntimeError("the ticket plugin has not started")
                self.store = await self.host.open_store(TicketStore, self.settings.dsn)
            return self.store

    async def _ready(self) -> TicketStore:
        """The open store, opening it now if startup could not; ActionError when the database is down."""
        if self.store is not None:
            return self.store
        try:
            return await self._open()
        except _DB_DOWN as exc:
            log.warning("ticket database unavailable", error=str(exc))
            raise ActionError(
                "tickets_unavailable", "the ticket database is not reachable; try again"
            ) from None

    # --- agent actions --------------------------------------------------------------------------------------

    @hookimpl
    def kefu_agent_actions(self) -> Sequence[AgentAction]:
        status = {"enum": list(STATUSES)}
        return [
            AgentAction(
                "ticket.create",
                self.create_ticket,
                {
                    "type": "object",
                    "required": ["subject"],
                    "additionalProperties": False,
                    "properties": {
                        "subject": {"type": "string", "minLength": 1, "maxLength": 255},
                        "body": {"type": "string", "maxLength": 20000},
                        "transcript": {"type": "boolean"},
                    },
                },
                "open a ticket for this conversation's customer, with the conversation's transcript",
            ),
            AgentAction(
                "ticket.list",
                self.list_tickets,
                {"type": "object", "additionalProperties": False, "properties": {"status": status}},
                "this conversation's customer's tickets, newest first",
            ),
            AgentAction(
                "ticket.update",
                self.update_ticket,
                {
                    "type": "object",
                    "required": ["ticket_id", "status"],
                    "additionalProperties": False,
                    "properties": {
                        "ticket_id": _TICKET_ID,
                        "status": status,
                        "note": {"type": "string", "maxLength": 2000},
                    },
                },
                "set a ticket's status (open, pending, solved, closed)",
            ),
        ]

    async def create_ticket(
        self, ctx: ActionContext, subject: str, body: str | None = None, transcript: bool = True
    ) -> dict[str, Any]:
        if not subject.strip():
            raise ActionError("bad_args", "subject: must not be blank")
        conversation, customer = await self._conversation_customer(ctx)
        store = await self._ready()
        messages = await self._transcript(conversation.id) if transcript else None
        new = NewTicket(
            uid=customer.uid,
            customer_id=customer.id,
            conversation_id=conversation.id,
            subject=subject.strip(),
            body=body,
            status="open",
            external_id=None,
            actor=f"agent:{ctx.agent.name}",
            at=utcnow(),
        )
        try:
            ticket = await store.create(new, messages)
        except _DB_DOWN as exc:
            raise _unavailable(exc) from None
        self.counts.forget(customer.uid, customer.id)
        log.info("ticket created", ticket_id=ticket.id, conversation_id=conversation.id, agent=ctx.agent.name)
        return {**ticket.to_dict(), "transcript_messages": len(messages) if messages is not None else None}

    async def _transcript(self, conversation_id: int) -> list[dict[str, Any]]:
        assert self.host is not None, "kefu_startup has run before any action"
        return [_transcript_line(m) for m in await self.host.conversations.messages(conversation_id, 0, 500)]

    async def _tell_visitor(self, ticket: Ticket) -> None:
        """A system message in the ticket's conversation (the visitor and the agent see the new status, also in
        history), then a ``ticket.status_changed`` frame to the visitor's open tabs for pages that show tickets."""
        if not self.settings.notify_visitor or ticket.conversation_id is None or self.host is None:
            return
        text = f"Ticket #{ticket.id} ({ticket.subject}) is now {ticket.status}."
        # one message per change, however often the change is reported
        key = f"ticket:{ticket.id}:{ticket.status}:{ticket.updated_at.isoformat()}"
        try:
            await self.host.conversations.post(ticket.conversation_id, text, key=key[:100])
            await self.host.send_to_visitor(ticket.conversation_id, "ticket.status_changed",
                                            {"ticket_id": ticket.id, "subject": ticket.subject, "status": ticket.status})
        except Exception as exc:  # the change is made and recorded; a lost notice must not undo that for the caller
            log.warning("could not tell the visitor about a ticket change", ticket_id=ticket.id, error=str(exc))

    async def list_tickets(self, ctx: ActionContext, status: str | None = None) -> dict[str, Any]:
        _, customer = await self._conversation_customer(ctx)
        store = await self._ready()
        try:
            found = await store.for_customer(customer.uid, customer.id, status)
            open_count = await store.open_count(customer.uid, customer.id)
        except _DB_DOWN as exc:
            raise _unavailable(exc) from None
        return {"uid": customer.uid, "tickets": [t.to_dict() for t in found], "open_count": open_count}

    async def update_ticket(
        self, ctx: ActionContext, ticket_id: int, status: str, note: str | None = None
    ) -> dict[str, Any]:
        store = await self._ready()
        try:
            change = await store.set_status(
                ticket_id, status, actor=f"agent:{ctx.agent.name}", at=utcnow(), note=note
            )
        except TicketNotFound:
            raise ActionError("not_found", f"no ticket {ticket_id}") from None
        except _DB_DOWN as exc:
            raise _unavailable(exc) from None
        self.counts.forget(change.ticket.uid, change.ticket.customer_id)
        if change.changed:
            await self._tell_visitor(change.ticket)
        return {"ticket": change.ticket.to_dict(), "changed": change.changed}

    async def _conversation_customer(self, ctx: ActionContext) -> tuple[ConversationView, CustomerView]:
        if ctx.conversation is None:
            raise ActionError(
                "no_conversation", "call this action with the conversation_id of a conversation you hold"
            )
        customer = await self.host.customers.get(ctx.conversation.customer_id) if self.host else None
        if customer is None:
            raise ActionError("not_found", f"conversation {ctx.conversation.id} has no customer record")
        return ctx.conversation, customer

    # --- events ---------------------------------------------------------------------------------------------

    @hookimpl
    def kefu_event_types(self) -> Sequence[EventType]:
        return [
            EventType(
                "ticket.changed",
                CHANGED_SCHEMA,
                "the ticket system changed a ticket's status (by ticket_id or its own external_id)",
            )
        ]

    @hookimpl
    async def kefu_event_received(self, event: Event, customer: CustomerView | None) -> None:
        if event.type != "ticket.changed":
            return
        data = event.data
        store = self.store or await self._open()
        ticket_id = int(data["ticket_id"]) if "ticket_id" in data else None
        change = await store.apply_external(
            uid=data["uid"],
            ticket_id=ticket_id,
            external_id=data.get("external_id"),
            status=data["status"],
            subject=data.get("subject"),
            actor=f"event:{event.source}/{event.id}",
            at=event.occurred_at,
            customer_id=customer.id if customer else None,
        )
        if change is None:
            log.warning(
                "ticket.changed names no ticket of this customer",
                event_id=event.id,
                uid=data["uid"],
                ticket_id=ticket_id,
                external_id=data.get("external_id"),
            )
            return
        self.counts.forget(change.ticket.uid, change.ticket.customer_id)
        if change.stale:
            log.info("older ticket change ignored", event_id=event.id, ticket_id=change.ticket.id)
        elif change.changed:
            await self._tell_visitor(change.ticket)

    # --- routing rules --------------------------------------------------------------------------------------

    @hookimpl
    def kefu_rule_fields(self) -> Sequence[FieldSpec]:
        return [
            FieldSpec(
                "ticket.open_count",
                FieldType.NUMBER,
                "Tickets of the customer that are open or pending (from the ticket plugin).",
            )
        ]

    @hookimpl
    async def kefu_conversation_facts(self, customer: CustomerView) -> Mapping[str, Any] | None:
        key = OpenCounts.key(customer.uid, customer.id)
        count = self.counts.get(key)
        if count is None:
            if self.store is None:
                return None  # unknown, not zero: rules on the field stay false until the database is back
            count = await self.store.open_count(customer.uid, customer.id)
            self.counts.put(key, count)
        return {"ticket.open_count": count}

    # --- HTTP -----------------------------------------------------------------------------------------------

    @hookimpl
    def kefu_routes(self) -> Sequence[web.RouteDef]:
        return routes.route_table(self)

    @hookimpl
    def kefu_openapi(self) -> Mapping[str, Any]:
        return routes.OPENAPI


def _transcript_line(message: MessageView) -> dict[str, Any]:
    return {
        "seq": message.seq,
        "sender": message.sender,
        "sender_id": message.sender_id,
        "kind": message.kind,
        "body": message.body,
        "created_at": message.created_at.isoformat(),
    }


def _unavailable(exc: BaseException) -> ActionError:
    log.warning("ticket database error", error=str(exc))
    return ActionError("tickets_unavailable", "the ticket database is not reachable; try again")
