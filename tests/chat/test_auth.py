"""Agents lose their sockets when disabled or given a new token, from any process; failed logins are rate-limited."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select, update

from kefu_host.chat.accounts import rotate_token, set_agent
from kefu_host.chat.protocol import CLOSE_SESSION_ENDED
from kefu_host.chat.tokens import hash_secret, parse_agent_token, scrypt_hash
from kefu_host.keys import CHAT, STORE
from kefu_host.store.models import Agent
from tests.conftest import admin_headers


async def agents_cli(config: Path, *args: str, stdin: str | None = None) -> str:
    """``kefu-host agents ...`` in a process of its own, against the host's database."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kefu_host", "--config", str(config), "agents", *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin is not None else None), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def close_code(ws: aiohttp.ClientWebSocketResponse, timeout: float = 10.0) -> int | None:
    """Read until the server closes the socket; the code in its close frame (what a browser's CloseEvent shows).

    Not ``ws.close_code``: when the client reads the close frame late, the server has already hung up and the
    client's own close reply fails, which aiohttp records as 1006.
    """
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.receive()
            if msg.type == aiohttp.WSMsgType.CLOSE:
                return int(msg.data)
            if msg.type in (aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                return ws.close_code


async def stored_hash(host: Any, name: str) -> str:
    async with host.app[STORE].read() as conn:
        return str((await conn.execute(select(Agent.secret_hash).where(Agent.name == name))).scalar_one())


async def test_an_agent_disabled_by_another_process_loses_its_sockets_with_4001(
    start_host: Callable[..., Any], write_config: Callable[..., Path], db_url: str
) -> None:
    host = await start_host(db_url=db_url)
    token = await host.add_agent("alice")
    tabs = [await host.agent(token), await host.agent(token)]
    bystander = await host.agent(await host.add_agent("bob"))

    out = await agents_cli(write_config(db_url=db_url), "set", "alice", "--disable")
    assert "within auth.agent_check_interval (1 s)" in out

    assert [await close_code(tab.ws) for tab in tabs] == [CLOSE_SESSION_ENDED] * 2
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await host.agent(token)
    assert refused.value.status == 401
    await bystander.send({"type": "ping"})
    assert (await bystander.expect("pong"))["at"]  # other agents carry on


async def test_a_token_rotated_by_another_process_ends_the_old_sockets_and_the_new_token_works(
    start_host: Callable[..., Any], write_config: Callable[..., Path], db_url: str
) -> None:
    host = await start_host(db_url=db_url)
    old = await host.add_agent("alice")
    tab = await host.agent(old)

    out = await agents_cli(write_config(db_url=db_url), "rotate-token", "alice")
    new = out.split("(shown once): ", 1)[1].split()[0]

    assert await close_code(tab.ws) == CLOSE_SESSION_ENDED
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await host.agent(old)
    assert refused.value.status == 401
    fresh = await host.agent(new)
    assert await host.app[CHAT].auth.agents.check() == 0  # the new token's socket stays
    await fresh.send({"type": "ping"})
    await fresh.expect("pong")


async def test_a_rotation_in_this_process_refuses_the_old_token_at_once(start_host: Callable[..., Any]) -> None:
    host = await start_host(environ={"KEFU_AUTH__AGENT_CHECK_INTERVAL": "3600"})
    old = await host.add_agent("alice")
    tab = await host.agent(old)
    new = await rotate_token(host.app[STORE], "alice")
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await host.agent(old)  # no remembered answer keeps the old token alive
    host.app[CHAT].auth.agents.poke()  # what an in-process change does instead of waiting for the interval
    assert await close_code(tab.ws) == CLOSE_SESSION_ENDED
    await (await host.agent(new)).close()
    await set_agent(host.app[STORE], "alice", disabled=True)
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await host.agent(new)


async def test_a_legacy_scrypt_hash_still_logs_in_once_and_is_then_stored_as_sha256(
    start_host: Callable[..., Any], db_url: str
) -> None:
    host = await start_host(db_url=db_url)
    token = await host.add_agent("alice")
    agent_id, secret = parse_agent_token(token)

    async def downgrade(conn: Any) -> None:  # the row as an earlier version wrote it
        await conn.execute(update(Agent).where(Agent.id == agent_id).values(secret_hash=scrypt_hash(secret)))

    await host.app[STORE].writer.transaction(downgrade)
    assert (await stored_hash(host, "alice")).startswith("scrypt$")

    first = await host.agent(token)
    assert await stored_hash(host, "alice") == hash_secret(secret)
    assert await host.app[CHAT].auth.agents.check() == 0  # the upgrade is not taken for a new token
    second = await host.agent(token)
    for tab in (first, second):
        await tab.send({"type": "ping"})
        await tab.expect("pong")


async def test_past_the_failure_limit_an_address_gets_429_before_any_credential_is_checked(
    start_host: Callable[..., Any],
) -> None:
    host = await start_host(environ={"KEFU_AUTH__MAX_FAILURES": "3", "KEFU_AUTH__FAILURE_WINDOW": "600"})
    agent_token = await host.add_agent("alice")
    visitor = await host.visitor_session()
    forged = agent_token[: agent_token.rindex("_") + 1] + "A" * 32
    for _ in range(3):
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await host.client.ws_connect("/ws/agent", headers={"Authorization": f"Bearer {forged}"})
        assert info.value.status == 401

    refused = await host.client.get("/ws/agent", headers={"Authorization": f"Bearer {agent_token}"})
    assert refused.status == 429  # even the right token: nothing is checked for this address now
    assert int(refused.headers["Retry-After"]) == 200  # one more try per window / max_failures
    assert (await refused.json())["error"] == {
        "code": "too_many_failures", "retry_after": 200,
        "message": "too many failed authentications from your address; retry in 200 s",
    }
    for path, headers in [
        (f"/ws/visitor?token={visitor['token']}", {}),
        ("/api/conversations/1/messages", {"Authorization": f"Bearer {visitor['token']}"}),
        ("/api/plugins", admin_headers()),
    ]:
        answer = await host.client.get(path, headers=headers)
        assert answer.status == 429, path
    identity = await host.client.post("/api/visitor/sessions", json={"user_id": "u-1", "user_hash": "0" * 64})
    assert identity.status == 429
    anonymous = await host.client.post("/api/visitor/sessions")
    assert anonymous.status == 201  # asking for a new anonymous visitor checks no credential


async def test_every_kind_of_failed_credential_counts(start_host: Callable[..., Any]) -> None:
    host = await start_host(environ={"KEFU_AUTH__MAX_FAILURES": "4", "KEFU_AUTH__FAILURE_WINDOW": "600"})
    failures = [
        host.client.get("/ws/visitor?token=forged"),
        host.client.get("/ws/agent", headers={"Authorization": "Bearer kfa_1_guess"}),
        host.client.get("/api/plugins", headers={"Authorization": "Bearer guess"}),
        host.client.post("/api/visitor/sessions", json={"user_id": "u-1", "user_hash": "0" * 64}),
    ]
    assert [(await f).status for f in failures] == [401, 401, 401, 403]
    assert (await host.client.get("/api/plugins", headers=admin_headers())).status == 429


async def test_behind_a_trusted_proxy_failures_count_per_forwarded_client(start_host: Callable[..., Any]) -> None:
    host = await start_host(environ={"KEFU_AUTH__MAX_FAILURES": "2", "KEFU_AUTH__FAILURE_WINDOW": "600",
                                     "KEFU_AUTH__TRUSTED_PROXIES": "127.0.0.1"})

    async def guess(forwarded_for: str) -> int:
        answer = await host.client.get("/api/plugins", headers={"Authorization": "Bearer guess",
                                                                  "X-Forwarded-For": forwarded_for})
        return answer.status

    assert [await guess("203.0.113.7") for _ in range(3)] == [401, 401, 429]
    assert await guess("203.0.113.8") == 401  # another client behind the same proxy
    assert await guess("198.51.100.1, 203.0.113.7") == 429  # what the client wrote itself is not believed


async def test_a_socket_opened_while_a_check_reads_the_store_is_not_judged_by_that_check(
    start_host: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from kefu_host.chat import auth

    host = await start_host(environ={"KEFU_AUTH__AGENT_CHECK_INTERVAL": "3600"})
    await host.agent(await host.add_agent("alice"))
    bob_token = await host.add_agent("bob")
    reading, go_on = asyncio.Event(), asyncio.Event()
    read = auth.agent_credentials

    async def slow_read(store: Any, agent_ids: Any) -> Any:
        reading.set()
        await go_on.wait()  # bob's socket opens while the check waits for the store
        return await read(store, agent_ids)

    monkeypatch.setattr(auth, "agent_credentials", slow_read)
    watch = host.app[CHAT].auth.agents
    check = asyncio.ensure_future(watch.check())
    await reading.wait()
    bob = await host.agent(bob_token)
    go_on.set()
    assert await check == 0  # bob was not among the agents it read: not "removed"
    monkeypatch.setattr(auth, "agent_credentials", read)
    assert await watch.check() == 0
    await bob.send({"type": "ping"})
    await bob.expect("pong")
