"""Admin HTTP routes under ``/plugins/ticket/``: the tickets of a customer, one ticket with its history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aiohttp import web

from kefu_host.sdk import INT32_MAX, IntRange, admin_denied, error_response, json_response, path_int

from .store import STATUSES

if TYPE_CHECKING:
    from .plugin import TicketPlugin

#: Ticket numbers are 32-bit on every database.
_TICKET_ID = IntRange(1, INT32_MAX)

_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_ADMIN = [{"adminToken": []}, {"agentToken": []}, {"sessionCookie": [], "csrfHeader": []}]


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): {"description": "refused (the host's error shape)", "content": _ERROR} for s in statuses}


def _answer(description: str, **properties: Any) -> dict[str, Any]:
    schema = {"type": "object", "required": list(properties), "properties": properties}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


#: The routes below in OpenAPI 3.1 (the ``kefu_openapi`` hook), relative to ``/plugins/ticket``.
OPENAPI: Mapping[str, Any] = {
    "/tickets": {"get": {
        "summary": "The tickets of a customer (admin)", "security": _ADMIN,
        "parameters": [
            {"name": "uid", "in": "query", "required": True, "schema": {"type": "string", "minLength": 1}},
            {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(STATUSES)}},
        ],
        "responses": {"200": _answer("the tickets, newest first", uid={"type": "string"},
                                     tickets={"type": "array", "items": {"type": "object"}}),
                      **_errors(400, 401, 403, 429, 503)},
    }},
    "/tickets/{id}": {"get": {
        "summary": "One ticket with its history (admin)", "security": _ADMIN,
        "parameters": [{"name": "id", "in": "path", "required": True,
                        "schema": {"type": "integer", "minimum": 1, "maximum": INT32_MAX}}],
        "responses": {"200": _answer("the ticket", ticket={"type": "object"},
                                     history={"type": "array", "items": {"type": "object"}}),
                      **_errors(400, 401, 403, 404, 429, 503)},
    }},
}


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
