"""``GET /api/customers/{id}``: a customer as the console's panel shows it, with its recent business events.

Admins read any customer; an agent reads the customers of conversations it holds or its teams have had. Everyone
else gets the same 404 for a customer that exists and one that does not, so ids cannot be probed.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import or_, select

from kefu_host.chat.callers import Caller, agent_or_admin
from kefu_host.http import error_response, json_response, path_int, query_int
from kefu_host.inputs import ID_RANGE, IntRange
from kefu_host.keys import CHAT, STORE
from kefu_host.store import Store
from kefu_host.store.models import Conversation, ProcessedEvent

DEFAULT_EVENTS = 20
MAX_EVENTS = 100
_EVENTS_RANGE = IntRange(0, MAX_EVENTS)


async def _may_read(store: Store, caller: Caller, customer_id: int) -> bool:
    if caller.admin:
        return True
    assert caller.agent is not None
    clause = or_(Conversation.agent_id == caller.agent.id, Conversation.team.in_(list(caller.agent.teams)))
    query = select(Conversation.id).where(Conversation.customer_id == customer_id, clause).limit(1)
    async with store.read() as conn:
        return (await conn.execute(query)).first() is not None


async def recent_events(store: Store, uid: str, limit: int) -> list[dict[str, Any]]:
    """The customer's last ``limit`` accepted events, newest first, as they were accepted ({id, type, occurred_at,
    source, data})."""
    query = (select(ProcessedEvent.payload).where(ProcessedEvent.customer_uid == uid)
             .order_by(ProcessedEvent.occurred_at.desc(), ProcessedEvent.received_at.desc()).limit(limit))
    async with store.read() as conn:
        return [dict(row.payload) for row in await conn.execute(query)]


async def customer_detail(request: web.Request) -> web.Response:
    customer_id = path_int(request, "id", ID_RANGE)
    caller = await agent_or_admin(request)
    if isinstance(caller, web.Response):
        return caller
    limit = query_int(request, "events", _EVENTS_RANGE, default=DEFAULT_EVENTS)  # the query after the credential
    store = request.app[STORE]
    customer = await request.app[CHAT].service.repo.customer(customer_id)
    if customer is None or not await _may_read(store, caller, customer_id):
        return error_response(404, "not_found", f"no customer {customer_id} that you may read")
    events = await recent_events(store, customer.uid, limit) if customer.uid and limit else []
    return json_response({"customer": customer.to_dict(), "events": events})


def setup(app: web.Application) -> None:
    app.router.add_get("/api/customers/{id}", customer_detail)
