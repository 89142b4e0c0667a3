"""Signing in to the console over HTTP: the first-run setup, password sign-in, who am I, sign-out.

| endpoint | |
|---|---|
| ``GET /api/setup`` | 200 while the database has no agent (the setup page is needed), else 410 |
| ``POST /api/setup`` | ``{token, name, password}``: the first agent, an admin in every team, signed in (201) |
| ``POST /api/agent/login`` | ``{name, password}``: the session cookie and the CSRF token |
| ``GET /api/agent/me`` | the signed-in agent (cookie or ``kfa_`` token), its teams, ``is_admin``, the CSRF token |
| ``POST /api/agent/logout`` | ends the session (the cookie's CSRF token needed like any other POST) |
"""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web

from kefu_host.chat import cookies
from kefu_host.chat.accounts import AccountError, AgentRecord, agent_by_name, get_agent, rehash_password
from kefu_host.chat.auth import ChatAuth
from kefu_host.chat.handshake import credential
from kefu_host.chat.passwords import MAX_LENGTH, MIN_LENGTH, needs_rehash, password_problem
from kefu_host.chat.sessions import NewSession, csrf_token
from kefu_host.chat.setup import BadSetupToken, SetupDone
from kefu_host.http import error_response, json_response, read_json
from kefu_host.keys import AUTH_GUARD, CHAT, CONFIG
from kefu_host.store import StoreUnavailable

log = structlog.get_logger("kefu_host.chat")
MAX_BODY = 8 * 1024
MAX_NAME = 100


def _auth(request: web.Request) -> ChatAuth:
    return request.config_dict[CHAT].auth


def _signed_in(request: web.Request, agent: AgentRecord, new: NewSession, status: int) -> web.Response:
    """The answer to a sign-in: the agent, its CSRF token and when the session ends, with the cookie."""
    response = json_response(_session_body(request, agent, new.secret, new.record), status=status)
    cookies.set_session_cookie(response, request, _auth(request).web_config, new.secret)
    return response


def _session_body(request: web.Request, agent: AgentRecord, secret: str | None, record: Any) -> dict[str, Any]:
    sessions = _auth(request).sessions
    return {
        "agent": agent.to_dict(),
        "auth": "session" if record is not None else "token",
        "csrf_token": csrf_token(secret) if secret is not None else None,
        "expires_at": sessions.expires_at(record).isoformat() if record is not None else None,
        "idle_timeout": sessions.idle.total_seconds(),
    }


def _text(body: dict[str, Any], name: str, max_len: int) -> str | web.Response:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        return error_response(422, "invalid_body", f"{name} must be a non-empty string", field=name)
    if len(value) > max_len:
        return error_response(422, "invalid_body", f"{name} may have at most {max_len} characters", field=name)
    return value


async def _object(request: web.Request) -> dict[str, Any] | web.Response:
    body = await read_json(request, max_bytes=MAX_BODY)
    if not isinstance(body, dict):
        return error_response(422, "invalid_body", "body must be a JSON object")
    return body


async def login(request: web.Request) -> web.Response:
    auth = _auth(request)
    refused = cookies.origin_refused(request, auth.web_config, required=False)  # no signing in from another site's page
    if refused is not None:
        return refused
    guard = request.config_dict[AUTH_GUARD]
    refused = guard.refuse(request)
    if refused is not None:
        return refused
    body = await _object(request)
    if isinstance(body, web.Response):
        return body
    name, password = _text(body, "name", MAX_NAME), _text(body, "password", MAX_LENGTH)
    for value in (name, password):
        if isinstance(value, web.Response):
            return value
    assert isinstance(name, str) and isinstance(password, str)
    try:
        agent = await agent_by_name(auth.store, name)
        usable = agent is not None and not agent.disabled
        stored = agent.password_hash if agent is not None and usable else None
        if not await auth.passwords.verify(password, stored) or agent is None:
            guard.failed(request)
            # the name only when it is an agent's: a password typed into the name field stays out of the log
            log.info("console sign-in refused", agent=agent.name if agent else None, remote=guard.address(request))
            return error_response(401, "invalid_credentials", "wrong name or password (or the agent is disabled)")
        if stored is not None and needs_rehash(stored):
            await rehash_password(auth.store, agent.id, stored, await auth.passwords.hash(password))
        new = await auth.sessions.create(agent.id)
    except StoreUnavailable:
        return error_response(503, "store_unavailable", "try again shortly")
    log.info("console sign-in", agent=agent.name, agent_id=agent.id)
    return _signed_in(request, agent, new, 200)


async def me(request: web.Request) -> web.Response:
    auth = _auth(request)
    if credential(request) is None and cookies.session_secret(request) is None:
        # no credential at all is a console opened before signing in, not a guess: it counts as no failure
        return error_response(401, "unauthorized", "not signed in")
    agent = await auth.agent(request)
    if isinstance(agent, web.Response):
        return agent
    secret = cookies.session_secret(request) if agent.session is not None else None
    return json_response(_session_body(request, agent, secret, agent.session))


async def logout(request: web.Request) -> web.Response:
    auth = _auth(request)
    agent = await auth.agent(request)
    if isinstance(agent, web.Response):
        return agent
    if agent.session is None:
        return error_response(400, "not_a_session", "a token has no session to end (kefu-host agents rotate-token "
                              "replaces it)")
    await auth.sessions.revoke(agent.session.id)
    auth.agents.poke()  # this agent's sockets on this session close now, not at the next interval
    log.info("console sign-out", agent=agent.name, agent_id=agent.id)
    response = web.Response(status=204)
    cookies.clear_session_cookie(response, request)
    return response


def _setup_done() -> web.Response:
    return error_response(410, "setup_done", "setup is done: an agent exists; sign in at /")


async def setup_status(request: web.Request) -> web.Response:
    if not await _auth(request).setup.required():
        return _setup_done()
    config = request.config_dict[CONFIG]
    return json_response({"required": True, "teams": list(config.chat.teams), "min_password_length": MIN_LENGTH})


async def setup(request: web.Request) -> web.Response:
    auth = _auth(request)
    refused = cookies.origin_refused(request, auth.web_config, required=False)
    if refused is not None:
        return refused
    guard = request.config_dict[AUTH_GUARD]
    refused = guard.refuse(request)
    if refused is not None:
        return refused
    if not await auth.setup.required():
        return _setup_done()
    body = await _object(request)
    if isinstance(body, web.Response):
        return body
    token, name, password = (_text(body, "token", 200), _text(body, "name", MAX_NAME),
                             _text(body, "password", MAX_LENGTH))
    for value in (token, name, password):
        if isinstance(value, web.Response):
            return value
    assert isinstance(token, str) and isinstance(name, str) and isinstance(password, str)
    if name != name.strip() or not name.isprintable():
        return error_response(422, "invalid_body", "name may not start or end with spaces or hold control "
                              "characters", field="name")
    if (problem := password_problem(password)) is not None:
        return error_response(422, "weak_password", problem, field="password")
    if not await auth.setup.token_known(token):  # before hashing: a guess costs no scrypt
        guard.failed(request)
        return error_response(403, "invalid_setup_token", "this is not the setup token from the host's log "
                              "(or it was used already)", field="token")
    teams = request.config_dict[CONFIG].chat.teams
    try:
        agent_id = await auth.setup.create_first_agent(token, name, await auth.passwords.hash(password), teams)
        agent = await get_agent(auth.store, agent_id)
        assert agent is not None
        new = await auth.sessions.create(agent_id)
    except SetupDone:
        return _setup_done()
    except BadSetupToken:
        guard.failed(request)
        return error_response(403, "invalid_setup_token", "this setup token was used already", field="token")
    except AccountError as exc:
        return error_response(422, "invalid_body", str(exc), field="name")
    except StoreUnavailable:
        return error_response(503, "store_unavailable", "try again shortly")
    log.warning("setup done: first agent created", agent=agent.name, agent_id=agent.id, teams=list(teams),
                is_admin=True)
    return _signed_in(request, agent, new, 201)


def routes(app: web.Application) -> None:
    app.router.add_get("/api/setup", setup_status)
    app.router.add_post("/api/setup", setup)
    app.router.add_post("/api/agent/login", login)
    app.router.add_get("/api/agent/me", me)
    app.router.add_post("/api/agent/logout", logout)
