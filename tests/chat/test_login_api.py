"""Signing in to the console: the session cookie, who am I, sign-out, CSRF and Origin checks, the cookie on the
agent socket, and the sockets closed when the session ends."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import unused_port
from sqlalchemy import select, update

from kefu_host.chat.accounts import set_agent
from kefu_host.chat.cookies import COOKIE, SECURE_COOKIE
from kefu_host.chat.passwords import hash_password
from kefu_host.chat.protocol import CLOSE_SESSION_ENDED
from kefu_host.chat.sessions import csrf_token, session_id
from kefu_host.keys import CHAT, STORE
from kefu_host.store.models import LoginSession, utcnow
from kefu_host.testing.clients import AgentClient
from tests.chat.conftest import Host
from tests.chat.test_auth import agents_cli, close_code

PASSWORD = "alice's long password"
FOREIGN = "http://visitor.example"  # a page the host serves the widget to, which must not use the agent's cookie


@pytest.fixture
def web_host(start_host: Callable[..., Any]) -> Callable[..., Any]:
    """A host on a known port whose own origin (the console's) and the widget site's are allowed origins."""

    async def start(extra: str = "", environ: dict[str, str] | None = None, **kwargs: Any) -> Host:
        port = unused_port()
        origins = f'["http://127.0.0.1:{port}", "{FOREIGN}"]'
        host = await start_host(extra, port=port, environ={"KEFU_SERVER__ALLOWED_ORIGINS": origins, **(environ or {})},
                                **kwargs)
        host.origin = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
        return host

    return start


async def sign_in(host: Host, name: str = "alice", password: str = PASSWORD) -> dict[str, Any]:
    response = await host.client.post("/api/agent/login", json={"name": name, "password": password})
    assert response.status == 200, await response.text()
    return dict(await response.json())


def cookie_value(host: Host) -> str:
    return next(c.value for c in host.client.session.cookie_jar if c.key in (COOKIE, SECURE_COOKIE))


async def session_rows(host: Host) -> list[Any]:
    async with host.app[STORE].read() as conn:
        return list((await conn.execute(select(LoginSession))).all())


async def test_signing_in_sets_an_httponly_strict_cookie_and_me_says_who_is_signed_in(
    start_host: Callable[..., Any], db_url: str
) -> None:
    host = await start_host(db_url=db_url)
    await host.add_agent("alice", ("support", "vip"), password=PASSWORD)
    response = await host.client.post("/api/agent/login", json={"name": "alice", "password": PASSWORD})
    assert response.status == 200
    header = response.headers["Set-Cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")}
    assert header.startswith(f"{COOKIE}=")
    assert {"httponly", "path", "max-age", "samesite"} <= attributes and "secure" not in attributes
    assert "SameSite=Strict" in header and "Path=/" in header and "Max-Age=43200" in header
    body = await response.json()
    secret = cookie_value(host)
    assert body["agent"] == {"id": 1, "name": "alice", "teams": ["support", "vip"], "capacity": 3, "is_admin": False}
    assert body["auth"] == "session" and body["csrf_token"] == csrf_token(secret)

    me = await host.client.get("/api/agent/me")
    assert me.status == 200
    assert (await me.json())["agent"]["name"] == "alice" and (await me.json())["csrf_token"] == csrf_token(secret)
    [row] = await session_rows(host)
    assert row.id == session_id(secret) and row.agent_id == 1  # the table holds a hash, never the secret


async def test_me_also_answers_for_an_agent_token_which_needs_no_csrf(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    token = await host.add_agent("alice")
    me = await host.client.get("/api/agent/me", headers={"Authorization": f"Bearer {token}"})
    body = await me.json()
    assert me.status == 200 and body["auth"] == "token" and body["csrf_token"] is None
    assert "Set-Cookie" not in me.headers


async def test_over_https_the_cookie_is_secure_and_host_only(start_host: Callable[..., Any]) -> None:
    host = await start_host('[web]\npublic_origin = "https://kefu.example.com"\n')
    await host.add_agent("alice", password=PASSWORD)
    response = await host.client.post("/api/agent/login", json={"name": "alice", "password": PASSWORD})
    header = response.headers["Set-Cookie"]
    assert header.startswith(f"{SECURE_COOKIE}=") and "Secure" in header and "Domain" not in header


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "alice"}, "password"), ({"password": PASSWORD}, "name"), ({"name": 7, "password": PASSWORD}, "name"),
    ({"name": "alice", "password": "x" * 1025}, "password"),
])  # fmt: skip
async def test_a_malformed_sign_in_is_a_422_naming_the_field(
    start_host: Callable[..., Any], body: dict[str, Any], field: str
) -> None:
    host = await start_host()
    response = await host.client.post("/api/agent/login", json=body)
    assert response.status == 422 and (await response.json())["error"]["field"] == field


async def test_wrong_passwords_and_unknown_names_are_refused_alike_and_counted(
    start_host: Callable[..., Any],
) -> None:
    host = await start_host(environ={"KEFU_AUTH__MAX_FAILURES": "3", "KEFU_AUTH__FAILURE_WINDOW": "3600"})
    await host.add_agent("alice", password=PASSWORD)
    await host.add_agent("carol", password=PASSWORD)
    await set_agent(host.app[STORE], "carol", disabled=True)
    answers = []
    for name, password in (("alice", "not her password"), ("nobody", PASSWORD), ("carol", PASSWORD)):
        response = await host.client.post("/api/agent/login", json={"name": name, "password": password})
        answers.append((response.status, (await response.json())["error"]["code"]))
    assert answers == [(401, "invalid_credentials")] * 3
    refused = await host.client.post("/api/agent/login", json={"name": "alice", "password": PASSWORD})
    assert refused.status == 429 and int(refused.headers["Retry-After"]) > 0  # even the right password, now
    assert "Set-Cookie" not in refused.headers


async def test_a_console_opened_before_signing_in_counts_no_failure(start_host: Callable[..., Any]) -> None:
    host = await start_host(environ={"KEFU_AUTH__MAX_FAILURES": "2"})
    await host.add_agent("alice", password=PASSWORD)
    for _ in range(5):
        assert (await host.client.get("/api/agent/me")).status == 401
    await sign_in(host)


async def test_signing_out_ends_the_session_on_the_server(start_host: Callable[..., Any], db_url: str) -> None:
    host = await start_host(db_url=db_url)
    await host.add_agent("alice", password=PASSWORD)
    csrf = (await sign_in(host))["csrf_token"]
    secret = cookie_value(host)
    out = await host.client.post("/api/agent/logout", headers={"X-CSRF-Token": csrf})
    assert out.status == 204 and f"{COOKIE}=\"\"" in out.headers["Set-Cookie"]
    assert await session_rows(host) == []
    replayed = await host.client.get("/api/agent/me", cookies={COOKIE: secret})  # a copy of the old cookie
    assert replayed.status == 401


async def test_a_cookie_signed_change_needs_the_sessions_csrf_header(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    await host.add_agent("alice", password=PASSWORD)
    await host.add_agent("bob", password="bob's own password")
    await sign_in(host, "bob", "bob's own password")
    bobs = csrf_token(cookie_value(host))
    csrf = (await sign_in(host))["csrf_token"]
    for headers in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": bobs}):
        refused = await host.client.post("/api/agent/logout", headers=headers)
        assert refused.status == 403 and (await refused.json())["error"]["code"] == "csrf_failed"
    assert (await host.client.get("/api/agent/me")).status == 200  # reads need none, and nothing was ended
    assert (await host.client.post("/api/agent/logout", headers={"X-CSRF-Token": csrf})).status == 204


async def test_a_cookie_from_another_origins_page_is_refused(web_host: Callable[..., Any]) -> None:
    host = await web_host()
    await host.add_agent("alice", password=PASSWORD)
    csrf = (await sign_in(host))["csrf_token"]
    for method, path in (("GET", "/api/agent/me"), ("POST", "/api/agent/logout")):
        response = await host.client.request(method, path, headers={"Origin": FOREIGN, "X-CSRF-Token": csrf})
        assert response.status == 403 and (await response.json())["error"]["code"] == "origin_not_allowed"
    login = await host.client.post("/api/agent/login", json={"name": "alice", "password": PASSWORD},
                                   headers={"Origin": FOREIGN})
    assert login.status == 403
    own = await host.client.get("/api/agent/me", headers={"Origin": host.origin})
    assert own.status == 200


async def test_the_agent_socket_takes_the_cookie_only_from_the_consoles_origin(web_host: Callable[..., Any]) -> None:
    host = await web_host()
    await host.add_agent("alice", password=PASSWORD)
    await sign_in(host)
    ws = await host.client.ws_connect("/ws/agent", headers={"Origin": host.origin})
    welcome = await AgentClient(ws).expect("welcome")
    assert welcome["agent"]["name"] == "alice"
    await ws.close()
    for headers in ({"Origin": FOREIGN}, {}, {"Origin": "null"}):  # the widget's site, none, a sandboxed frame
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await host.client.ws_connect("/ws/agent", headers=headers)
        assert refused.value.status == 403


@pytest.mark.parametrize("ending", ["sign-out", "new password in another process", "disabled", "expired"])
async def test_a_console_socket_closes_with_4001_when_its_session_ends(
    web_host: Callable[..., Any], write_config: Callable[..., Path], db_url: str, ending: str
) -> None:
    host = await web_host(db_url=db_url)
    await host.add_agent("alice", password=PASSWORD)
    csrf = (await sign_in(host))["csrf_token"]
    tab = AgentClient(await host.client.ws_connect("/ws/agent", headers={"Origin": host.origin}))
    await tab.expect("welcome")
    bob = await host.agent(await host.add_agent("bob"))  # a token socket: no session to end
    if ending == "sign-out":
        assert (await host.client.post("/api/agent/logout", headers={"X-CSRF-Token": csrf})).status == 204
    elif ending == "disabled":
        await set_agent(host.app[STORE], "alice", disabled=True)
    elif ending == "expired":
        async def age(conn: Any) -> None:
            await conn.execute(update(LoginSession).values(created_at=utcnow() - timedelta(hours=13)))

        await host.app[STORE].writer.transaction(age)
    else:
        config = write_config(db_url=db_url)
        out = await agents_cli(config, "set", "alice", "--password-stdin", stdin="a brand new password\n")
        assert "signed out" in out
    assert await close_code(tab.ws) == CLOSE_SESSION_ENDED
    await bob.send({"type": "ping"})
    await bob.expect("pong")
    if ending == "expired":
        assert (await host.client.get("/api/agent/me")).status == 401


async def test_an_open_console_keeps_its_session_from_going_idle(web_host: Callable[..., Any]) -> None:
    host = await web_host(environ={"KEFU_AUTH__AGENT_CHECK_INTERVAL": "3600"})
    await host.add_agent("alice", password=PASSWORD)
    await sign_in(host)
    tab = AgentClient(await host.client.ws_connect("/ws/agent", headers={"Origin": host.origin}))
    await tab.expect("welcome")
    long_ago = utcnow() - timedelta(minutes=100)  # idle timeout 2 h: not expired, but stale

    async def age(conn: Any) -> None:
        await conn.execute(update(LoginSession).values(last_seen_at=long_ago))

    await host.app[STORE].writer.transaction(age)
    assert await host.app[CHAT].auth.agents.check() == 0
    [row] = await session_rows(host)
    assert row.last_seen_at > long_ago + timedelta(minutes=99)


async def test_the_password_is_stored_as_a_slow_hash_and_a_weak_one_is_upgraded(
    start_host: Callable[..., Any],
) -> None:
    from kefu_host.chat.passwords import ScryptParams
    from kefu_host.store.models import Agent

    host = await start_host()
    await host.add_agent("alice")
    weak = hash_password(PASSWORD, ScryptParams(n=2**10, r=8, p=1))
    await set_agent(host.app[STORE], "alice", password_hash=weak)
    await sign_in(host)
    async with host.app[STORE].read() as conn:
        stored = (await conn.execute(select(Agent.password_hash))).scalar_one()
    assert stored != weak and stored.startswith("scrypt$n=32768,")
