"""The console's session cookie on HTTP: setting and clearing it, and the checks a cookie-signed request must pass.

The cookie is ``HttpOnly`` (scripts cannot read it), ``SameSite=Strict`` and ``Path=/``. Strict rather than Lax:
Lax would still send it on a top-level navigation from another site, and nothing needs that, since the console's
HTML is the same for everyone and asks ``/api/agent/me`` who is signed in once loaded; a link to the console from
a mail or a chat then opens it signed in all the same. It is ``Secure`` (and named ``__Host-kefu_session``, which
browsers accept only from https, for the whole host, with no Domain) when the request came over https or
``web.public_origin`` is https; otherwise ``kefu_session``.

SameSite treats other hosts of the same registrable domain (``shop.example.com`` for ``kefu.example.com``) as the
same site and sends them the cookie, so a cookie-signed request must also come from the console's own origin:
``Origin`` is checked against ``web.public_origin`` and the origin the request was sent to. A WebSocket handshake
must carry an ``Origin`` (browsers always send one): this is what stops cross-site WebSocket hijacking.
"""

from __future__ import annotations

from aiohttp import web

from kefu_host.config import WebConfig
from kefu_host.http import error_response

COOKIE = "kefu_session"
SECURE_COOKIE = "__Host-kefu_session"
CSRF_HEADER = "X-CSRF-Token"
#: Methods that change nothing; every other one needs the CSRF header when signed by the cookie.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def session_secret(request: web.BaseRequest) -> str | None:
    """The session cookie's value, if the request has one."""
    return request.cookies.get(SECURE_COOKIE) or request.cookies.get(COOKIE) or None


def is_secure(request: web.BaseRequest, config: WebConfig) -> bool:
    return request.secure or config.public_origin.startswith("https://")


def set_session_cookie(response: web.StreamResponse, request: web.BaseRequest, config: WebConfig,
                       secret: str) -> None:
    secure = is_secure(request, config)
    response.set_cookie(SECURE_COOKIE if secure else COOKIE, secret, max_age=int(config.session_lifetime), path="/",
                        secure=secure, httponly=True, samesite="Strict")


def clear_session_cookie(response: web.StreamResponse, request: web.BaseRequest) -> None:
    for name in (COOKIE, SECURE_COOKIE):
        if name in request.cookies:
            response.del_cookie(name, path="/", secure=name == SECURE_COOKIE, httponly=True, samesite="Strict")


def own_origin(request: web.BaseRequest) -> str:
    return f"{request.scheme}://{request.host}"


def console_origins(request: web.BaseRequest, config: WebConfig) -> tuple[str, ...]:
    return (own_origin(request), config.public_origin) if config.public_origin else (own_origin(request),)


def origin_refused(request: web.BaseRequest, config: WebConfig, *, required: bool) -> web.Response | None:
    """403 unless ``Origin`` is the console's (or absent, when not ``required``)."""
    origin = request.headers.get("Origin")
    if origin is None and not required:
        return None
    accepted = console_origins(request, config)
    if origin in accepted:
        return None
    hint = "" if config.public_origin else "; behind a reverse proxy set web.public_origin"
    return error_response(403, "origin_not_allowed",
                          f"origin {origin or '(none)'} may not use the console session: it must be "
                          f"{' or '.join(accepted)}{hint}")


def csrf_header(request: web.BaseRequest) -> str | None:
    return request.headers.get(CSRF_HEADER)


def is_websocket(request: web.BaseRequest) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"
