"""HTTP plumbing shared by every endpoint: request ids, JSON bodies, error answers, admin authentication, and the
reading of request input (integers, text) by the rules of :mod:`kefu_host.inputs`."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, overload

import orjson
from aiohttp import web

from kefu_host.inputs import NUL, BadInput, IntRange, json_problem, parse_int, same_secret
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
    and echoed in the answer; CORS for the visitor API (:func:`_cors`); and the one error shape for every refusal.

    A request whose headers are not UTF-8 or whose path or query holds NUL is refused before any handler reads it;
    a :class:`~kefu_host.inputs.BadInput` a handler raises is a 400 naming the field; HTTP errors raised by
    handlers or by aiohttp itself (404, 405, 413, a WebSocket handshake without Upgrade) are answered with the JSON
    error body, like every other refusal.

    One middleware rather than several: each layer costs every request a coroutine and a wrapper call.
    """
    given = request.headers.get(REQUEST_ID_HEADER, "")
    # Request ids need to be unique, not secret: no system randomness (a syscall each) for them.
    request_id = (
        given if 0 < len(given) <= 128 and given.isascii() and given.isprintable() else f"{random.getrandbits(64):016x}"
    )
    request[REQUEST_ID] = request_id
    token = CURRENT_REQUEST_ID.set(request_id)  # a context variable of our own: structlog's binding costs 10x
    try:
        unreadable = unreadable_request(request)
        if unreadable is not None:
            response: web.StreamResponse = error_response(400, "bad_request", unreadable)
        else:
            origin = request.headers.get("Origin")
            if origin and request.path.startswith(CORS_PATHS):
                response = await _cors(request, handler, origin)
            else:
                try:
                    response = await handler(request)
                except (BadInput, web.HTTPException) as exc:
                    response = _refusal_answer(exc)
    except web.HTTPException as exc:  # a redirect or the like, raised by a handler
        exc.headers[REQUEST_ID_HEADER] = request_id
        raise
    finally:
        CURRENT_REQUEST_ID.reset(token)
    if not response.prepared:
        response.headers[REQUEST_ID_HEADER] = request_id
    return response


def unreadable_request(request: web.Request) -> str | None:
    """Why the request's text cannot be read safely (a header that is not UTF-8, NUL in the path or query), or None.

    aiohttp hands undecodable header bytes on as lone surrogates, which fail wherever a handler encodes them again.
    """
    for name, value in request.headers.items():
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return f"header {name} is not valid UTF-8"
    raw = request.raw_path
    if "%00" in raw or NUL in raw or NUL in request.path:
        return "the path and query must not contain U+0000 (NUL)"
    return None


def _refusal_answer(exc: BadInput | web.HTTPException) -> web.Response:
    """What a handler raised as the JSON error response, so the request id and CORS headers are added to it like
    to any answer: a :class:`~kefu_host.inputs.BadInput` is a 400 naming the field. Re-raises what is no error."""
    if isinstance(exc, BadInput):
        return error_response(400, "bad_request", str(exc), field=exc.field)
    if exc.status < 400:
        raise exc
    return _json_refusal(exc)


#: The error code for each status aiohttp itself refuses a request with.
_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 413: "too_large", 414: "too_large", 415: "unsupported_media_type"}


def _json_refusal(exc: web.HTTPException) -> web.Response:
    """A raised HTTP error as a response with the host's JSON error body (aiohttp's own have plain text), keeping
    headers such as ``Allow``."""
    if exc.content_type == "application/json":  # raised with the JSON error already (read_json)
        response = web.Response(status=exc.status, body=exc.body, content_type="application/json", charset="utf-8")
    else:
        code = _STATUS_CODES.get(exc.status, exc.reason.lower().replace(" ", "_"))
        text = exc.text or exc.reason
        message = text.split(": ", 1)[1] if text.startswith(f"{exc.status}: ") else text
        response = error_response(exc.status, code, message.strip())
    for name, value in exc.headers.items():
        if name.lower() not in ("content-type", "content-length"):
            response.headers[name] = value
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
    try:
        response = await handler(request)
    except (BadInput, web.HTTPException) as exc:
        response = _refusal_answer(exc)
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
    return config.auth.admin_api and bool(expected) and token is not None and same_secret(token, expected or "")


def check_admin(request: web.Request) -> web.Response | None:
    """None when the request carries the admin token; otherwise the 401/403/429 answer to return. Admin agents are
    not accepted here: routes that should take them too use :func:`admin_denied`."""
    if not request.config_dict[CONFIG].auth.admin_api:
        return error_response(403, "admin_disabled", "the admin API is off (auth.admin_api = false)")
    guard = request.config_dict[AUTH_GUARD]
    refused = guard.refuse(request)
    if refused is not None:
        return refused
    if not is_admin(request):
        guard.failed(request)
        return error_response(401, "unauthorized", "admin token required (Authorization: Bearer ...)")
    return None


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


def _refusal(cls: type[web.HTTPException], code: str, message: str, **extra: Any) -> web.HTTPException:
    return cls(text=dumps({"error": {"code": code, "message": message, **extra}}), content_type="application/json")


def _too_large(max_bytes: int, size: int) -> web.HTTPException:
    text = dumps({"error": {"code": "too_large", "message": f"body over {max_bytes} bytes"}})
    return web.HTTPRequestEntityTooLarge(max_bytes, size, text=text, content_type="application/json")


async def read_json(request: web.Request, max_bytes: int | None = None) -> Any:
    """The body as JSON, or raise the 400 (not JSON), 413 (over ``max_bytes``) or 422 (text holding NUL, nesting
    too deep: :func:`kefu_host.inputs.json_problem`) answer naming what is wrong."""
    if max_bytes is not None and request.content_length is not None and request.content_length > max_bytes:
        raise _too_large(max_bytes, request.content_length)
    body = await request.read()
    if max_bytes is not None and len(body) > max_bytes:
        raise _too_large(max_bytes, len(body))
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _refusal(web.HTTPBadRequest, "invalid_json", f"body is not valid JSON: {exc}") from None
    problem = json_problem(data, body)
    if problem is not None:
        raise _refusal(web.HTTPUnprocessableEntity, "invalid_body", str(problem), field=problem.field)
    return data


@overload
def query_int(request: web.Request, name: str, bounds: IntRange, default: int) -> int: ...
@overload
def query_int(request: web.Request, name: str, bounds: IntRange, default: None = None) -> int | None: ...
def query_int(request: web.Request, name: str, bounds: IntRange, default: int | None = None) -> int | None:
    """Query parameter ``name`` as an integer within ``bounds`` (``default`` when absent or empty); a malformed or
    out-of-range one raises :class:`~kefu_host.inputs.BadInput`, answered 400 by :func:`request_context`."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    return parse_int(raw, name, bounds)


def path_int(request: web.Request, name: str, bounds: IntRange) -> int:
    """Path parameter ``name`` (``/api/conversations/{id}``) as an integer within ``bounds``; else 400."""
    return parse_int(request.match_info[name], name, bounds)
