"""Chat over HTTP: visitor sessions, conversation history, routing explanations."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from kefu_host.chat import canned_api, login_api, targets
from kefu_host.chat.accounts import AgentRecord
from kefu_host.chat.agent_ws import agent_socket
from kefu_host.chat.handshake import credential
from kefu_host.chat.ratings import read_rating
from kefu_host.chat.runtime import chat_ctx
from kefu_host.chat.tokens import InvalidToken, VisitorClaims, check_identity
from kefu_host.chat.values import ConversationView
from kefu_host.chat.visitor_ws import visitor_socket
from kefu_host.customers import create_anonymous, ensure_identified, visitor_profile
from kefu_host.http import error_response, is_admin, json_response, path_int, query_int, read_json
from kefu_host.inputs import ID_RANGE, INT32_RANGE, BadInput, IntRange
from kefu_host.keys import AUTH_GUARD, CHAT, CONFIG, STORE
from kefu_host.store import StoreUnavailable

MAX_HISTORY_PAGE = 500
DEFAULT_HISTORY_PAGE = 100
#: ``limit`` may be any positive 32-bit integer; pages hold at most :data:`MAX_HISTORY_PAGE` messages.
_LIMIT_RANGE = IntRange(1, INT32_RANGE.maximum)
#: ``before_seq``: seqs start at 1, so nothing is before 1.
_BEFORE_RANGE = IntRange(1, INT32_RANGE.maximum)


async def create_visitor_session(request: web.Request) -> web.Response:
    """A visitor token. With ``user_id`` + ``user_hash`` the visitor is that customer; else an anonymous one.

    A still-valid visitor token in ``Authorization`` keeps the same visitor and customer (page reloads).
    """
    config = request.app[CONFIG]
    tokens = request.app[CHAT].auth.visitor_tokens
    body: dict[str, Any] = {}
    if request.can_read_body:
        body = await read_json(request, max_bytes=16 * 1024)
        if not isinstance(body, dict):
            return error_response(422, "invalid_body", "body must be a JSON object")
    previous = None
    if token := credential(request):
        try:
            previous = tokens.verify(token)
        except InvalidToken:
            previous = None
    user_id, user_hash = body.get("user_id"), body.get("user_hash")
    if user_hash is not None and not isinstance(user_hash, str):
        return error_response(422, "invalid_body", "user_hash must be a string (the hex HMAC-SHA256 of user_id)",
                              field="user_hash")
    try:
        profile = visitor_profile(body)  # checked for anonymous visitors too: bad input is refused, never ignored
    except BadInput as exc:
        return error_response(422, "invalid_body", str(exc), field=exc.field)
    try:
        if user_id is not None:
            if not isinstance(user_id, str) or not user_id or len(user_id) > 191:
                return error_response(422, "invalid_body", "user_id must be a string of 1 to 191 characters",
                                      field="user_id")
            guard = request.app[AUTH_GUARD]
            refused = guard.refuse(request)
            if refused is not None:
                return refused
            if not isinstance(user_hash, str) or not check_identity(config.secrets.identity, user_id, user_hash):
                guard.failed(request)
                return error_response(403, "identity_mismatch", "user_hash does not match user_id",
                                      field="user_hash")
            customer_id = await ensure_identified(request.app[STORE], user_id, profile)
            uid: str | None = user_id
        elif previous is not None and previous.uid is None:
            customer_id, uid = previous.customer_id, None
        else:
            customer_id, uid = await create_anonymous(request.app[STORE]), None
    except StoreUnavailable:
        return error_response(503, "store_unavailable", "try again shortly")
    visitor_id = previous.visitor_id if previous else secrets.token_hex(12)
    token = tokens.sign(visitor_id, customer_id, uid)
    return json_response({"token": token, "visitor_id": visitor_id, "customer_id": customer_id,
                          "ws_url": "/ws/visitor"}, status=201)


@dataclass(frozen=True, slots=True)
class Reader:
    """Who may read a conversation, and as what: ``admin`` (the admin token), ``agent`` (``agent`` set; an admin
    agent too) or ``visitor`` (``visitor`` set). Visitors never read agents' notes."""

    kind: Literal["admin", "agent", "visitor"]
    conversation: ConversationView
    agent: AgentRecord | None = None
    visitor: VisitorClaims | None = None

    @property
    def sees_notes(self) -> bool:
        return self.kind != "visitor"


async def conversation_reader(
    request: web.Request, conversation_id: int, *, holder_only: bool = False
) -> Reader | web.Response:
    """The caller, when the conversation exists and they may read it: admins (the admin token, an admin agent) any,
    agents those of their teams or their own (only their own with ``holder_only``), visitors their customer's
    (none with ``holder_only``); else the answer to give. The credential is checked before the conversation is
    looked up, and every caller but an admin gets the same 404 for a conversation that does not exist and one that
    is not theirs: the answer never tells whether an id exists.
    """
    chat = request.app[CHAT]
    missing = error_response(404, "not_found", f"no conversation {conversation_id}")
    if is_admin(request):
        view = await chat.service.repo.conversation(conversation_id)
        return Reader("admin", view) if view is not None else missing
    not_yours = error_response(404, "not_found", f"no conversation {conversation_id} that you may read")
    if chat.auth.offers_agent(request):
        agent = await chat.auth.agent(request)
        if isinstance(agent, web.Response):
            return agent
        view = await chat.service.repo.conversation(conversation_id)
        if view is None:
            return missing if agent.is_admin else not_yours
        mine = view.agent_id == agent.id or (not holder_only and view.team in agent.teams)
        return Reader("agent", view, agent=agent) if agent.is_admin or mine else not_yours
    claims = chat.auth.visitor(request, credential(request))
    if isinstance(claims, web.Response):
        return claims
    view = await chat.service.repo.conversation(conversation_id)
    if view is not None and claims.customer_id == view.customer_id and not holder_only:
        return Reader("visitor", view, visitor=claims)
    return not_yours


async def conversation_messages(request: web.Request) -> web.Response:
    """``?after_seq=N`` (the page a ``resync`` frame sends clients to) or ``?before_seq=N`` (older history, for
    scrolling back), ``&limit=M``: stored messages in seq order, agents' notes only for agents and admins."""
    conversation_id = path_int(request, "id", ID_RANGE)  # an id that cannot exist tells nobody anything
    reader = await conversation_reader(request, conversation_id)
    if isinstance(reader, web.Response):
        return reader
    after = query_int(request, "after_seq", INT32_RANGE)  # the query only after the credential
    before = query_int(request, "before_seq", _BEFORE_RANGE)
    if after is not None and before is not None:
        return error_response(400, "bad_request", "give after_seq or before_seq, not both")
    limit = min(query_int(request, "limit", _LIMIT_RANGE, default=DEFAULT_HISTORY_PAGE), MAX_HISTORY_PAGE)
    repo = request.app[CHAT].service.repo
    # one more than asked for says whether there is more beyond this page
    if before is not None:
        messages = await repo.messages_before(conversation_id, before, limit + 1, notes=reader.sees_notes)
        more, page = len(messages) > limit, messages[-limit:]
    else:
        messages = await repo.messages_after(conversation_id, after or 0, limit + 1, notes=reader.sees_notes)
        more, page = len(messages) > limit, messages[:limit]
    return json_response({"conversation_id": conversation_id, "messages": [m.to_frame() for m in page],
                          "more": more})


async def conversation_detail(request: web.Request) -> web.Response:
    """The conversation, its routing decisions (why it went where it went) and its satisfaction rating."""
    conversation_id = path_int(request, "id", ID_RANGE)
    reader = await conversation_reader(request, conversation_id)
    if isinstance(reader, web.Response):
        return reader
    chat = request.app[CHAT]
    repo = chat.service.repo
    stored = await read_rating(repo.store, conversation_id, chat.config.chat.rating_window)
    return json_response({"conversation": reader.conversation.to_dict(),
                          "decisions": await repo.decisions(conversation_id),
                          "rating": stored.rating.to_dict() if stored.rating else None,
                          "rate_until": stored.rate_until.isoformat() if stored.rate_until else None})


async def conversation_explain(request: web.Request) -> web.Response:
    """What the active rules would decide for the conversation now, rule by rule (nothing is applied)."""
    conversation_id = path_int(request, "id", ID_RANGE)
    reader = await conversation_reader(request, conversation_id, holder_only=True)
    if isinstance(reader, web.Response):
        return reader
    service = request.app[CHAT].service
    live = await service.conversation(conversation_id)
    view = live.view() if live is not None else reader.conversation
    customer = service.customer(view.customer_id) or await service.repo.customer(view.customer_id)
    if customer is None:
        return error_response(404, "not_found", f"conversation {conversation_id} has no customer record")
    message = await service.repo.last_visitor_message(conversation_id)
    explanation = await service.router.explain(view, customer, message)
    if explanation is None:
        return error_response(503, "no_rules", "no rule set is loaded")
    return json_response({"conversation_id": conversation_id, "message_seq": message.seq if message else None,
                          **explanation.to_dict()})


def setup(app: web.Application) -> None:
    app.router.add_post("/api/visitor/sessions", create_visitor_session)
    app.router.add_get("/ws/visitor", visitor_socket)
    app.router.add_get("/ws/agent", agent_socket)
    app.router.add_get("/api/conversations/{id}", conversation_detail)
    app.router.add_get("/api/conversations/{id}/messages", conversation_messages)
    app.router.add_get("/api/conversations/{id}/explain", conversation_explain)
    login_api.routes(app)
    canned_api.routes(app)
    targets.routes(app)
    app.cleanup_ctx.append(chat_ctx)
