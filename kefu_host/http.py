"""HTTP plumbing shared by every endpoint: request ids, JSON bodies, error answers, admin authentication."""

from __future__ import annotations

import hmac
import random
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import orjson
from aiohttp import web

from kefu_host.keys import AUTH_GUARD, CHAT, CONFIG

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REQUEST_ID_HEADER = "X-Request-Id"
REQUEST_ID = web.RequestKey("request_id", str)
#: The id of the request being handled, for every log line written meanwhile (see :func:`kefu_host.logs.add_request_id`).
CURRENT_REQUEST_ID: ContextVar[str | None] = ContextVar("kefu_request_id", default=None)


def dumps(obj: Any) -> str:
    return orjson.dumps(obj, default=str).decode()


def json_response(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # bytes straight from orjson: web.json_response would decode them to text and encode them again
    return web.Response(
        body=orjson.dumps(data, default=str), status=status, headers=headers, content_type="application/json",
        charset="utf-8",
    )


def error_response(status: int, code: str, message: str, **extra: Any) -> web.Response:
    """The one error shape: ``{"error": {"code": ..., "message": ..., ...}}``."""
    return json_response({"error": {"code": code, "message": message, **extra}}, status=status)


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every request: a request id (the caller's ``X-Request-Id`` when sane, else a new one) bound to every log line
    and echoed in the answer; CORS for the visitor API (:func:`_cors`).

    One middleware rather than two: each layer costs every request a coroutine and a wrapper call.
    """
    given = request.headers.get(REQUEST_ID_HEADER, "")
    # Request ids need to be unique, not secret: no system randomness (a syscall each) for them.
    request_id = given if 0 < len(given) <= 128 and given.isprintable() else f"{random.getrandbits(64):016x}"
    request[REQUEST_ID] = request_id
    token = CURRENT_REQUEST_ID.set(request_id)  # a context variable of our own: structlog's binding costs 10x
    try:
        origin = request.headers.get("Origin")
        if origin and request.path.startswith(CORS_PATHS):
            response = await _cors(request, handler, origin)
        else:
            response = await handler(request)
    except web.HTTPException as exc:
        exc.headers[REQUEST_ID_HEADER] = request_id
        raise
    finally:
        CURRENT_REQUEST_ID.reset(token)
    if not response.prepared:
        response.headers[REQUEST_ID_HEADER] = request_id
    return response


#: Paths a visitor's browser calls from the company's site (another origin) before and beside its WebSocket.
CORS_PATHS = ("/api/visitor/", "/api/conversations/")


async def _cors(request: web.Request, handler: Handler, origin: str) -> web.StreamResponse:
    """Let pages from ``server.allowed_origins`` call the visitor API from the browser (preflight included)."""
    allowed = origin in request.config_dict[CONFIG].server.allowed_origins
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        if not allowed:
            return error_response(403, "origin_not_allowed", f"origin {origin} is not in server.allowed_origins")
        return web.Response(status=204, headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "GET, POST",
            "Access-Control-Allow-Headers": "Authorization, Content-Type",
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        })  # fmt: skip
    response = await handler(request)
    if allowed and not response.prepared:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
    return response


def bearer_token(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def is_admin(request: web.Request) -> bool:
    """The request carries the admin token (and the admin API is on)."""
    config = request.config_dict[CONFIG]
    expected, token = config.secrets.admin_token, bearer_token(request)
    return (config.auth.admin_api and bool(expected) and token is not None
            and hmac.compare_digest(token.encode("utf-8", "replace"), (expected or "").encode()))


async def admin_denied(request: web.Request) -> web.Response | None:
    """None when the request may use the admin API: it carries the admin token, or it is signed by an admin agent
    (its console session, with CSRF for a POST, or its ``kfa_`` token). Otherwise the 401/403/429 to return."""
    if not request.config_dict[CONFIG].auth.admin_api:
        return error_response(403, "admin_disabled", "the admin API is off (auth.admin_api = false)")
    guard = request.config_dict[AUTH_GUARD]
    refused = guard.refuse(request)
    if refused is not None:
        return refused
    if is_admin(request):
        return None
    auth = request.config_dict[CHAT].auth
    if auth.offers_agent(request):
        agent = await auth.agent(request)
        if isinstance(agent, web.Response):
            return agent
        if agent.is_admin:
            return None
        return error_response(403, "not_admin", f"agent {agent.name} is not an admin "
                              f"(kefu-host agents set {agent.name} --admin)")
    guard.failed(request)
    return error_response(401, "unauthorized", "admin token (Authorization: Bearer ...) or an admin agent's "
                          "console session required")


def admin_only(handler: Handler) -> Handler:
    """Decorate an admin endpoint."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        denied = await admin_denied(request)
        return denied if denied is not None else await handler(request)

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


async def read_json(request: web.Request, max_bytes: int | None = None) -> Any:
    """The body as JSON, or raise a 400/413 answer naming what is wrong."""
    if max_bytes is not None and request.content_length is not None and request.content_length > max_bytes:
        raise web.HTTPRequestEntityTooLarge(max_size=max_bytes, actual_size=request.content_length)
    body = await request.read()
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise web.HTTPBadRequest(
            text=dumps({"error": {"code": "invalid_json", "message": f"body is not valid JSON: {exc}"}}),
            content_type="application/json",
        ) from None
