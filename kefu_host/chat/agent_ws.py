"""``GET /ws/agent``: an agent's socket. Authenticated on the handshake; every frame about a conversation is checked
against the conversations the agent holds.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog
from aiohttp import WSMsgType, web

from kefu_host.agent_actions import ActionContext, ActionError
from kefu_host.chat.accounts import AgentRecord
from kefu_host.chat.append import NotHeld
from kefu_host.chat.assignment import Presence
from kefu_host.chat.broker import agent_topic, conversation_topic
from kefu_host.chat.connection import Connection
from kefu_host.chat.handshake import BadQuery, open_websocket, origin_refused, resume_points
from kefu_host.chat.protocol import (
    MAX_BODY_CHARS,
    MAX_CLIENT_MSG_ID,
    FrameError,
    answering,
    bool_field,
    error_frame,
    frame,
    int_field,
    not_stored,
    parse,
    text_field,
)
from kefu_host.chat.queues import queue_topic
from kefu_host.chat.runtime import ChatRuntime
from kefu_host.chat.service import TakeRefused
from kefu_host.chat.session import Session
from kefu_host.chat.values import NOTE, TEXT
from kefu_host.http import error_response
from kefu_host.inputs import ID_RANGE
from kefu_host.keys import CHAT, METRICS, SOCKETS
from kefu_host.store import StoreUnavailable

log = structlog.get_logger("kefu_host.chat")
AGENT_FRAMES = frozenset({"send", "typing", "read", "close", "transfer", "take", "presence", "action", "ping"})
#: Actions one agent socket may have running at once.
MAX_RUNNING_ACTIONS = 4


async def agent_socket(request: web.Request) -> web.StreamResponse:
    chat = request.config_dict[CHAT]
    refused = origin_refused(request, chat.config)
    if refused is not None:
        return refused
    try:
        resume = resume_points(request)
    except BadQuery as exc:
        return error_response(400, "bad_request", str(exc))
    presence = request.query.get("presence", "online")
    if presence not in ("online", "away"):
        return error_response(400, "bad_request", "presence must be online or away")
    auth = await chat.auth.agent(request)
    if isinstance(auth, web.Response):
        return auth
    record = auth

    ws = await open_websocket(request, chat.config)
    request.config_dict[SOCKETS].add(ws, "agent")
    watched = chat.auth.agents.add(record, ws)
    conn = Connection(ws, max_queue=chat.config.chat.send_queue_size, fetch=chat.fetch_frames,
                      label=f"agent:{record.name}", sees_private=True,
                      counters=request.config_dict[METRICS].sockets("agent"))
    session = Session(conn, chat.hub)
    chat.presence.know(record)
    try:
        await _welcome(chat, session, record, resume, presence)  # type: ignore[arg-type]
        await chat.presence.connected(record.id, session, presence)  # type: ignore[arg-type]
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    try:
                        await _handle(chat, session, record, msg.data)
                    except FrameError as exc:
                        conn.send(error_frame(exc.code, exc.message, exc.ref, **exc.extra))
                elif msg.type == WSMsgType.BINARY:
                    conn.send(error_frame("bad_frame", "binary frames are not accepted; send JSON text"))
        finally:
            # shielded: aiohttp cancels the handler when the peer goes away, and a cluster node must still remove
            # the socket's session row (else the agent looks present until the row expires)
            await chat.unfinished.shielded(chat.presence.disconnected(record.id, session))
    finally:
        chat.auth.agents.discard(watched)
        await session.close()
    return ws


async def _welcome(
    chat: ChatRuntime, session: Session, record: AgentRecord, resume: dict[int, int], wish: Presence
) -> None:
    """List the agent's conversations, then follow each: replaying after the client's resume point if it gave one.

    ``presence`` in the welcome is the agent's presence once this socket counts; later changes come as ``presence``
    frames."""
    service = chat.service
    session.hold()  # what is published while the welcome is read (several nodes: from the store) comes after it
    session.listen(agent_topic(record.id))
    for team in record.teams:
        session.listen(queue_topic(team))
    try:
        held = await service.held_by(record.id)
        unread = await service.unread(held)
        queues = await service.board.snapshot(record.teams)
        session.conn.send(
            frame(
                {
                    "type": "welcome",
                    "agent": {"id": record.id, "name": record.name, "teams": list(record.teams),
                              "capacity": record.capacity},
                    "presence": chat.presence.presence_with(record.id, wish),
                    "conversations": [{**s.view().to_dict(), "unread": unread[s.id]} for s in held],
                    "queues": queues,
                    "actions": chat.actions.describe(),
                }
            )
        )
    finally:
        session.release()
    for state in held:
        if state.id in resume:
            await session.resume(state.id, resume[state.id])
        else:
            session.follow(state.id, state.last_seq)
    session.on_catch_up = lambda: _reconcile(chat, session, record.id)


async def _reconcile(chat: ChatRuntime, session: Session, agent_id: int) -> None:
    """Publications to this agent may have been missed (Redis came back): bring the socket in line with the store.
    Conversations it holds but does not follow come as ``assigned``; ones it follows but no longer holds as
    ``unassigned`` (reason ``resync``); the rest catch up on missed messages."""
    held = await chat.service.held_by(agent_id)
    for state in held:
        if session.following(state.id):
            session.conn.catch_up(state.id)
        else:
            assigned, upto = await chat.service.assigned_frame(state)
            session.follow(state.id, upto)
            session.conn.send(assigned)
    ids = {s.id for s in held}
    for cid in session.followed():
        if cid not in ids:
            session.conn.send(frame({"type": "unassigned", "conversation_id": cid, "reason": "resync"}))
            session.unfollow(cid)


async def _owned(chat: ChatRuntime, session: Session, record: AgentRecord, data: dict[str, Any], *,
                 ask: bool = True) -> int:
    """The conversation a frame names, if the agent holds it and this socket has been told so (``assigned``).
    ``ask=False`` leaves out asking who holds it, for a write that checks it itself."""
    cid = int_field(data, "conversation_id", ID_RANGE)
    assert cid is not None
    if not session.following(cid) or ask and not await chat.service.owns(record.id, cid):
        raise forbidden(cid)
    return cid


def forbidden(cid: int) -> FrameError:
    return FrameError("forbidden", f"conversation {cid} is not assigned to you")


async def _handle(chat: ChatRuntime, session: Session, record: AgentRecord, text: str) -> None:
    data = parse(text, AGENT_FRAMES)
    with chat.tracing.span(f"ws agent {data['type']}"), answering(data):
        await _dispatch(chat, session, record, data)


async def _dispatch(chat: ChatRuntime, session: Session, record: AgentRecord, data: dict[str, Any]) -> None:
    kind = data["type"]
    service = chat.service
    if kind == "ping":
        session.conn.send(frame({"type": "pong", "at": time.time()}))
    elif kind == "presence":
        status = data.get("status")
        if status not in ("online", "away"):
            raise FrameError("bad_frame", "'status' must be online or away")
        await chat.presence.set_presence(record.id, status)  # announced to every socket of the agent
    elif kind == "send":
        # with several nodes who holds it is the store's to say: its append checks under the row lock it takes
        # anyway, instead of a read before it
        cid = await _owned(chat, session, record, data, ask=not service.shared)
        client_msg_id = text_field(data, "client_msg_id", max_len=MAX_CLIENT_MSG_ID)
        body = text_field(data, "body", max_len=MAX_BODY_CHARS)
        assert body is not None
        kind = NOTE if bool_field(data, "note") else TEXT
        try:
            appended = await service.store_agent_message(record.id, cid, client_msg_id, body, session, kind=kind,
                                                         held=service.shared)
        except StoreUnavailable as exc:
            raise not_stored(exc, ref=client_msg_id) from None
        except NotHeld:
            raise forbidden(cid) from None
        m = appended.message  # the service has acked it to this session
        if not appended.duplicate:
            await service.after_agent_message(cid, m)
    elif kind == "typing":
        cid = await _owned(chat, session, record, data)
        chat.hub.publish(conversation_topic(cid), frame({"type": "typing", "conversation_id": cid, "from": "agent"},
                                                          origin=session.origin))
    elif kind == "read":
        cid = await _owned(chat, session, record, data)
        seq = int_field(data, "seq")
        assert seq is not None
        chat.hub.publish(conversation_topic(cid), frame({"type": "read", "conversation_id": cid, "seq": seq,
                                                          "by": "agent"}, origin=session.origin))
        try:
            await service.mark_read(cid, seq)
        except StoreUnavailable:
            pass  # a read frame is not acked: this one is not kept, the next one is (this node's count is 0)
    elif kind == "close":
        cid = await _owned(chat, session, record, data)
        try:
            await service.close(cid, "agent")
        except StoreUnavailable as exc:
            raise not_stored(exc, "the close") from None
    elif kind == "take":
        cid = int_field(data, "conversation_id", ID_RANGE)
        assert cid is not None
        try:
            await service.take(record.id, cid)
        except TakeRefused as exc:
            raise FrameError(exc.code, exc.message) from None
        except StoreUnavailable as exc:
            raise not_stored(exc, "the assignment") from None
    elif kind == "action":
        await _start_action(chat, session, record, data)
    elif kind == "transfer":
        cid = await _owned(chat, session, record, data)
        team = text_field(data, "team", max_len=100, required=False)
        agent = text_field(data, "agent", max_len=100, required=False)
        if team is not None and team not in chat.config.chat.teams:
            raise FrameError("unknown_team", f"unknown team {team!r}")
        if agent is not None and service.agent_named(agent) is None:
            raise FrameError("unknown_agent", f"unknown agent {agent!r}")
        if team is None and agent is None:
            raise FrameError("bad_frame", "transfer needs 'team' or 'agent'")
        try:
            await service.transfer(cid, team=team, agent=agent, reason="agent")
        except StoreUnavailable as exc:
            raise not_stored(exc, "the transfer") from None


async def _start_action(chat: ChatRuntime, session: Session, record: AgentRecord, data: dict[str, Any]) -> None:
    """Run an agent action beside the socket's read loop, so a slow ERP never holds up the agent's messages."""
    ref = text_field(data, "ref", max_len=100)
    name = text_field(data, "action", max_len=100)
    cid = data.get("conversation_id")
    if cid is not None:
        cid = await _owned(chat, session, record, data)
    running = session.tasks
    if len(running) >= MAX_RUNNING_ACTIONS:
        raise FrameError("busy", f"at most {MAX_RUNNING_ACTIONS} actions at once", ref)
    state = chat.service.known_conversation(cid) if cid is not None else None
    agent = chat.service.agent(record.id)
    assert agent is not None  # known since its socket opened (presence.know)
    ctx = ActionContext(agent, state.view() if state else None)

    async def run() -> None:
        try:
            result = await chat.actions.call(name or "", data.get("args", {}), ctx)
        except ActionError as exc:
            session.conn.send(frame({"type": "action_result", "ref": ref, "ok": False,
                                     "error": {"code": exc.code, "message": exc.message}}))
            return
        try:
            session.conn.send(frame({"type": "action_result", "ref": ref, "ok": True, "result": result}))
        except TypeError:
            session.conn.send(frame({"type": "action_result", "ref": ref, "ok": False,
                                     "error": {"code": "action_failed", "message": "result is not JSON"}}))

    task = asyncio.get_running_loop().create_task(run())
    running.add(task)
    task.add_done_callback(running.discard)
