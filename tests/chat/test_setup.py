"""First run: the setup token in the log creates the first agent, an admin in every team, once."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import unused_port
from sqlalchemy import select

from kefu_host.chat.accounts import get_agent
from kefu_host.chat.cookies import COOKIE
from kefu_host.chat.passwords import verify_password
from kefu_host.chat.setup import setup_link
from kefu_host.keys import CHAT, STORE
from kefu_host.store.models import SetupToken
from kefu_host.testing.process import HostProcess
from tests.chat.conftest import Host

TEAMS = ["support", "vip", "risk-control", "backup", "en-desk"]
PASSWORD = "the first admin's password"


def setup_token(host: Host) -> str:
    token = host.app[CHAT].auth.setup.token
    assert token is not None
    return token


async def run_setup(host: Host, token: str, name: str = "li.lei", password: str = PASSWORD) -> aiohttp.ClientResponse:
    return await host.client.post("/api/setup", json={"token": token, "name": name, "password": password})


async def test_the_setup_token_creates_the_first_admin_in_every_team_and_signs_it_in(
    start_host: Callable[..., Any], db_url: str
) -> None:
    host = await start_host(db_url=db_url)
    status = await host.client.get("/api/setup")
    assert status.status == 200
    assert await status.json() == {"required": True, "teams": TEAMS, "min_password_length": 8}

    response = await run_setup(host, setup_token(host))
    assert response.status == 201 and response.cookies[COOKIE].value
    body = await response.json()
    assert body["agent"] == {"id": 1, "name": "li.lei", "teams": sorted(TEAMS), "capacity": 3, "is_admin": True}
    agent = await get_agent(host.app[STORE], 1)
    assert agent is not None and agent.password_hash and verify_password(PASSWORD, agent.password_hash)
    me = await host.client.get("/api/agent/me")
    assert me.status == 200 and (await me.json())["agent"]["is_admin"] is True
    assert (await host.client.get("/api/rules")).status == 200  # an admin at once


async def test_the_token_works_once_and_then_setup_is_gone(start_host: Callable[..., Any], db_url: str) -> None:
    host = await start_host(db_url=db_url)
    token = setup_token(host)
    assert (await run_setup(host, token)).status == 201
    again = await run_setup(host, token, name="mallory")
    assert again.status == 410 and (await again.json())["error"]["code"] == "setup_done"
    assert (await host.client.get("/api/setup")).status == 410
    async with host.app[STORE].read() as conn:
        assert (await conn.execute(select(SetupToken.id))).all() == []
    assert host.app[CHAT].auth.setup.token is None


async def test_a_wrong_token_is_refused_counted_and_uses_nothing_up(start_host: Callable[..., Any]) -> None:
    host = await start_host(environ={"KEFU_AUTH__MAX_FAILURES": "2"})
    token = setup_token(host)
    wrong = await run_setup(host, token[:-2] + "xx")
    assert wrong.status == 403 and (await wrong.json())["error"] == {
        "code": "invalid_setup_token", "field": "token",
        "message": "this is not the setup token from the host's log (or it was used already)"}
    assert (await run_setup(host, "guess")).status == 403
    assert (await run_setup(host, token)).status == 429  # the address failed too often, even with the right one
    async with host.app[STORE].read() as conn:
        assert len((await conn.execute(select(SetupToken.id))).all()) == 1  # still there for the real admin


@pytest.mark.parametrize(("body", "status", "code", "field"), [
    ({"name": "li.lei", "password": PASSWORD}, 422, "invalid_body", "token"),
    ({"token": "T", "name": " li", "password": PASSWORD}, 422, "invalid_body", "name"),
    ({"token": "T", "name": "li.lei", "password": "short"}, 422, "weak_password", "password"),
    ({"token": "T", "name": "", "password": PASSWORD}, 422, "invalid_body", "name"),
])  # fmt: skip
async def test_a_bad_setup_form_is_a_4xx_naming_the_field(
    start_host: Callable[..., Any], body: dict[str, Any], status: int, code: str, field: str
) -> None:
    host = await start_host()
    if body.get("token") == "T":
        body["token"] = setup_token(host)
    response = await host.client.post("/api/setup", json=body)
    error = (await response.json())["error"]
    assert (response.status, error["code"], error["field"]) == (status, code, field)
    assert await host.app[CHAT].auth.setup.required()  # nothing was created


async def test_a_database_with_agents_makes_no_setup_token(start_host: Callable[..., Any], db_url: str) -> None:
    first = await start_host(db_url=db_url)
    await first.add_agent("alice")
    await first.client.close()
    second = await start_host(db_url=db_url)
    assert second.app[CHAT].auth.setup.token is None
    assert (await second.client.get("/api/setup")).status == 410


async def test_every_process_of_one_database_accepts_any_processs_token(
    start_host: Callable[..., Any], pg_url: str
) -> None:
    one = await start_host(db_url=pg_url)
    two = await start_host(db_url=pg_url)
    tokens = setup_token(one), setup_token(two)
    assert tokens[0] != tokens[1]
    response = await run_setup(two, tokens[0])  # the log line of process one, the balancer sent it to two
    assert response.status == 201
    late = await run_setup(one, tokens[1])
    assert late.status == 410  # one token, once, for the whole database


def test_the_setup_link_carries_the_token_in_the_fragment() -> None:
    assert setup_link("127.0.0.1", 8080, "T0k") == "http://127.0.0.1:8080/setup#token=T0k"
    assert setup_link("0.0.0.0", 8080, "T0k") == "http://127.0.0.1:8080/setup#token=T0k"
    assert setup_link("::", 9000, "T0k") == "http://[::1]:9000/setup#token=T0k"
    assert setup_link("::1", 9000, "T0k") == "http://[::1]:9000/setup#token=T0k"
    assert setup_link("0.0.0.0", 8080, "T0k", "https://kefu.example.com") == "https://kefu.example.com/setup#token=T0k"


@pytest.fixture
def served(write_config: Callable[..., Path]) -> Iterator[Callable[[], tuple[int, list[dict[str, Any]]]]]:
    hosts: list[HostProcess] = []

    def start() -> tuple[int, list[dict[str, Any]]]:
        """``kefu-host`` on a fresh database; its port and its log lines up to the setup line (the rest of its log
        is read on by a thread: a pipe nobody reads fills, and the host then blocks in its next write)."""
        port = unused_port()
        host = HostProcess(write_config(), ["--port", str(port)])
        hosts.append(host)
        setup = host.log.wait(lambda r: "url" in r and "setup" in str(r["url"]), 60)
        lines = list(host.log.records)
        return port, lines[: lines.index(setup) + 1]

    yield start
    for host in hosts:
        host.kill()


async def test_a_fresh_host_logs_one_line_with_the_setup_url_that_works(
    served: Callable[[], tuple[int, list[dict[str, Any]]]],
) -> None:
    port, lines = served()
    line = lines[-1]
    assert line["level"] == "warning" and line["event"] == "no agents yet: open this URL to create the first admin agent"
    prefix = f"http://127.0.0.1:{port}/setup#token="
    assert line["url"].startswith(prefix)
    token = line["url"][len(prefix):]
    assert sum(token in json.dumps(other) for other in lines) == 1  # nowhere else in the log
    async with aiohttp.ClientSession() as session:
        page = await session.get(f"http://127.0.0.1:{port}/setup")  # the fragment stays in the browser
        assert page.status == 200 and "text/html" in page.headers["Content-Type"]
        response = await session.post(f"http://127.0.0.1:{port}/api/setup",
                                      json={"token": token, "name": "li.lei", "password": PASSWORD})
        assert response.status == 201
