"""Admin HTTP routes under ``/plugins/ticket/``: the tickets of a customer, one ticket with its history."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from aiohttp import web

from kefu_host.sdk import INT32_MAX, IntRange, admin_denied, error_response, json_response, path_int

from .store import STATUSES

if TYPE_CHECKING:
    from .plugin import TicketPlugin

#: Ticket numbers are 32-bit on every database.
_TICKET_ID = IntRange(1, INT32_MAX)


def route_table(plugin: TicketPlugin) -> Sequence[web.RouteDef]:
    async def list_tickets(request: web.Request) -> web.Response:
        denied = await admin_denied(request)
        if denied is not None:
            return denied
        uid = request.query.get("uid", "")
        if not uid:
            return error_response(400, "bad_request", "the uid query parameter is required")
        store = plugin.store
        if store is None:
            return error_response(503, "tickets_unavailable", "the ticket database is not open")
        status = request.query.get("status")
        if status is not None and status not in STATUSES:
            return error_response(400, "bad_request", f"status must be one of {', '.join(STATUSES)}")
        found = await store.for_customer(uid, None, status)
        return json_response({"uid": uid, "tickets": [t.to_dict() for t in found]})

    async def show_ticket(request: web.Request) -> web.Response:
        denied = await admin_denied(request)
        if denied is not None:
            return denied
        store = plugin.store
        if store is None:
            return error_response(503, "tickets_unavailable", "the ticket database is not open")
        ticket_id = path_int(request, "id", _TICKET_ID)  # else 400, answered by the host
        ticket = await store.get(ticket_id)
        if ticket is None:
            return error_response(404, "not_found", f"no ticket {ticket_id}")
        return json_response({
            "ticket": ticket.to_dict(),
            "history": await store.history(ticket.id),
            "transcript": await store.transcript(ticket.id),
        })

    return [web.get("/tickets", list_tickets), web.get("/tickets/{id}", show_ticket)]
