"""``GET /ws/visitor``: a visitor's socket. One frame at a time: parse, check, store, ack, route.

Errors in a frame are answered with an ``error`` frame and the socket stays open; see docs/protocol.md.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import structlog
from aiohttp import WSMsgType, web

from kefu_host.chat.availability import availability_topic
from kefu_host.chat.broker import conversation_topic, customer_topic
from kefu_host.chat.connection import Connection
from kefu_host.chat.handshake import BadQuery, credential, int_query, open_websocket, origin_refused
from kefu_host.chat.offline import keep_contact, parse_contact, tag_offline
from kefu_host.chat.protocol import (
    MAX_BODY_CHARS,
    MAX_CLIENT_MSG_ID,
    FrameError,
    answering,
    error_frame,
    frame,
    int_field,
    not_stored,
    parse,
    text_field,
)
from kefu_host.chat.ratelimit import TokenBucket
from kefu_host.chat.ratings import StoredRating, parse_score, rate, read_rating
from kefu_host.chat.runtime import ChatRuntime
from kefu_host.chat.service import Visitor
from kefu_host.chat.session import Session
from kefu_host.http import error_response
from kefu_host.inputs import ID_RANGE
from kefu_host.keys import CHAT, METRICS, SOCKETS
from kefu_host.store import StoreUnavailable

log = structlog.get_logger("kefu_host.chat")
T = TypeVar("T")
VISITOR_FRAMES = frozenset({"send", "typing", "read", "close", "rate", "offline_message", "ping"})


async def visitor_socket(request: web.Request) -> web.StreamResponse:
    chat = request.config_dict[CHAT]
    config = chat.config
    refused = origin_refused(request, config)
    if refused is not None:
        return refused
    claims = chat.auth.visitor(request, credential(request))
    if isinstance(claims, web.Response):
        return claims
    try:
        last_seq = int_query(request, "last_seq")
    except BadQuery as exc:
        return error_response(400, "bad_request", str(exc))

    ws = await open_websocket(request, config)
    request.config_dict[SOCKETS].add(ws, "visitor")
    visitor = Visitor(claims.visitor_id, claims.customer_id)
    conn = Connection(ws, max_queue=config.chat.send_queue_size, fetch=chat.fetch_frames,
                      label=f"visitor:{visitor.visitor_id}", sees_private=False,  # agents' notes never go out here
                      counters=request.config_dict[METRICS].sockets("visitor"))
    session = Session(conn, chat.hub)
    bucket = chat.auth.visitor_rate.acquire(visitor.customer_id)  # one rate for all of the customer's sockets
    try:
        await _welcome(chat, session, visitor, last_seq)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                try:
                    await _handle(chat, session, visitor, bucket, msg.data)
                except FrameError as exc:
                    conn.send(error_frame(exc.code, exc.message, exc.ref, **exc.extra))
            elif msg.type == WSMsgType.BINARY:
                conn.send(error_frame("bad_frame", "binary frames are not accepted; send JSON text"))
    finally:
        chat.auth.visitor_rate.release(visitor.customer_id)
        await session.close()
    return ws


async def _welcome(chat: ChatRuntime, session: Session, visitor: Visitor, last_seq: int | None) -> None:
    """Tell the visitor where they stand (who is helping them, whether their team has an agent online, a rating
    still to give), then replay what they missed of their conversation."""
    service = chat.service
    session.listen(customer_topic(visitor.customer_id))
    state = await service.open_conversation_of(visitor.customer_id)
    view = state.view() if state else await service.repo.latest_conversation(visitor.customer_id)
    # the visitor's team: their open conversation's, else where a new one starts
    team = view.team if view is not None and view.status != "closed" else chat.config.chat.default_team
    session.listen(availability_topic(team))
    agent, stored = None, StoredRating(None, None)
    if view is not None and view.status == "assigned" and view.agent_id is not None:
        agent = service.agent(view.agent_id)
    elif view is not None and view.status == "closed":
        stored = await read_rating(service.repo.store, view.id, chat.config.chat.rating_window)
    session.conn.send(
        frame(
            {
                "type": "welcome",
                "visitor_id": visitor.visitor_id,
                "conversation_id": view.id if view else None,
                "status": view.status if view else None,
                "last_seq": view.last_seq if view else 0,
                "team": team,
                "agents_online": chat.presence.availability.online(team),
                "agent": agent.name if agent else None,
                "rating": stored.rating.to_dict() if stored.rating else None,
                "rate_until": stored.rate_until.isoformat() if stored.rate_until else None,
            }
        )
    )
    session.on_catch_up = lambda: _reconcile(chat, session, visitor.customer_id)
    if view is None:
        return
    await session.resume(view.id, last_seq or 0)
    position = await service.position(view.id) if view.status == "queued" else None
    if position is not None:
        team, place = position
        session.conn.send(frame({"type": "queue", "conversation_id": view.id, "team": team, "position": place}))


async def _reconcile(chat: ChatRuntime, session: Session, customer_id: int) -> None:
    """Publications to this visitor may have been missed (Redis came back): follow the open conversation."""
    state = await chat.service.open_conversation_of(customer_id)
    if state is None:
        return
    if session.following(state.id):
        session.conn.catch_up(state.id)
        return
    session.follow(state.id, state.last_seq)
    session.conn.send(frame({"type": "conversation", "conversation_id": state.id, "status": state.status}))


async def _handle(chat: ChatRuntime, session: Session, visitor: Visitor, bucket: TokenBucket, text: str) -> None:
    data = parse(text, VISITOR_FRAMES)
    with chat.tracing.span(f"ws visitor {data['type']}"), answering(data):
        await _dispatch(chat, session, visitor, bucket, data)


async def _dispatch(
    chat: ChatRuntime, session: Session, visitor: Visitor, bucket: TokenBucket, data: dict[str, Any]
) -> None:
    kind = data["type"]
    if kind == "send":
        await _send(chat, session, visitor, bucket, data)
    elif kind == "offline_message":
        await _send(chat, session, visitor, bucket, data, offline=True)
    elif kind == "rate":
        cid = int_field(data, "conversation_id", ID_RANGE)
        assert cid is not None
        score = parse_score(data)
        _take(bucket)
        await _storing(rate(chat.service.repo, chat.hub, visitor.customer_id, cid, score,
                            chat.config.chat.rating_window))
    elif kind == "ping":
        session.conn.send(frame({"type": "pong", "at": time.time()}))
    else:
        cid = chat.service.open_conversation_id(visitor.customer_id)
        if cid is None or chat.service.shared and kind == "close":  # another node may have opened or closed it
            state = await chat.service.open_conversation_of(visitor.customer_id)
            cid = state.id if state is not None else None
        if cid is None:
            raise FrameError("no_conversation", "there is no open conversation yet; send a message first")
        if kind == "typing":
            chat.hub.publish(conversation_topic(cid), frame({"type": "typing", "conversation_id": cid,
                                                              "from": "visitor"}, origin=session.origin))
        elif kind == "read":
            seq = int_field(data, "seq")
            chat.hub.publish(conversation_topic(cid), frame({"type": "read", "conversation_id": cid, "seq": seq,
                                                              "by": "visitor"}, origin=session.origin))
        elif kind == "close":
            score = None
            if "score" in data or "comment" in data:  # closing with a rating: one write, one closed webhook with it
                score = parse_score(data)
                if chat.config.chat.rating_window <= 0:
                    raise FrameError("rating_closed", "this host does not take ratings; close without a score")
            await _storing(chat.service.close(cid, "visitor", score))


def _take(bucket: TokenBucket) -> None:
    """One more frame that writes, against the customer's message rate."""
    wait = bucket.take()
    if wait:
        raise FrameError("rate_limited", f"too many messages; retry in {wait:.1f}s")


async def _storing(write: Awaitable[T]) -> T:
    try:
        return await write
    except StoreUnavailable as exc:
        raise not_stored(exc, "nothing") from None


async def _send(
    chat: ChatRuntime, session: Session, visitor: Visitor, bucket: TokenBucket, data: dict, offline: bool = False
) -> None:
    """A message; with ``offline``, left through the offline form, with the visitor's contact details."""
    client_msg_id = text_field(data, "client_msg_id", max_len=MAX_CLIENT_MSG_ID)
    body = text_field(data, "body", max_len=MAX_BODY_CHARS)
    assert client_msg_id is not None and body is not None
    contact = None
    if offline:
        contact = parse_contact(data)
    _take(bucket)
    if contact is not None:
        await keep_contact(chat.service, visitor.customer_id, contact)
    try:
        appended, state, opened = await chat.service.store_visitor_message(
            visitor, client_msg_id, body, session
        )
    except StoreUnavailable as exc:
        raise not_stored(exc, ref=client_msg_id) from None
    message = appended.message  # the service has acked it to this session
    if not appended.duplicate:
        if offline:
            await _storing(tag_offline(chat.service, state))
        await chat.service.after_visitor_message(state, message, opened)
