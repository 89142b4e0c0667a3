"""Checks every WebSocket handshake makes before upgrading: Origin, credentials, resume points."""

from __future__ import annotations

import socket

from aiohttp import web

from kefu_host.config import Config
from kefu_host.http import bearer_token, error_response, query_int
from kefu_host.inputs import ID_RANGE, INT32_RANGE, BadInput, parse_int


def origin_refused(request: web.Request, config: Config) -> web.Response | None:
    """403 for a browser page from an origin not in ``server.allowed_origins``; non-browser clients send none."""
    origin = request.headers.get("Origin")
    if origin is None:
        return None
    allowed = config.server.allowed_origins
    same_origin = f"{request.scheme}://{request.host}"
    if origin in allowed or (not allowed and origin == same_origin):
        return None
    return error_response(403, "origin_not_allowed", f"origin {origin} is not in server.allowed_origins")


def credential(request: web.Request) -> str | None:
    """The token from ``Authorization: Bearer`` or, for browsers that cannot set headers, ``?token=``."""
    return bearer_token(request) or request.query.get("token") or None


async def open_websocket(request: web.Request, config: Config) -> web.WebSocketResponse:
    """Upgrade the request; ``server.socket_send_buffer`` bounds what the kernel holds for a client not reading."""
    ws = web.WebSocketResponse(
        max_msg_size=config.server.max_frame_bytes,
        compress=config.server.websocket_compression,
        heartbeat=30.0,
    )
    if config.cluster.enabled:  # which node took the socket: for operators, load balancer checks and tests
        from kefu_host.chat.runtime import node_id  # the runtime imports this module

        ws.headers["X-Kefu-Node"] = node_id(config)
    await ws.prepare(request)
    size = config.server.socket_send_buffer
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if size and sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
    return ws


#: A malformed query parameter: answered 400 before the upgrade.
BadQuery = BadInput


def int_query(request: web.Request, name: str) -> int | None:
    """A seq-like query parameter (``last_seq``): an integer from 0 to 2^31-1, None when absent."""
    return query_int(request, name, INT32_RANGE)


def resume_points(request: web.Request) -> dict[int, int]:
    """``?resume=12:40,13:7``: conversation id -> last seq the client has."""
    raw = request.query.get("resume", "")
    points: dict[int, int] = {}
    for part in filter(None, raw.split(",")):
        cid, sep, seq = part.partition(":")
        if not sep:
            raise BadInput("resume", "must look like 12:40,13:7 (conversation:last_seq)")
        points[parse_int(cid, "resume", ID_RANGE)] = parse_int(seq, "resume", INT32_RANGE)
    return points
