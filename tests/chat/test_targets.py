"""``GET /api/agent/targets``: the teams a conversation may go to and the colleagues with a console open."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.conftest import admin_headers


async def test_teams_and_colleagues_with_their_presence(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    alice_token = await host.add_agent("alice", teams=("support",))
    await host.agent(alice_token)
    await host.agent(await host.add_agent("bob", teams=("vip", "support"), capacity=2))
    await host.agent(await host.add_agent("carol", teams=("vip",)), presence="away")
    await host.add_agent("dave", teams=("vip",))  # no console open

    response = await host.client.get("/api/agent/targets", headers={"Authorization": f"Bearer {alice_token}"})
    assert response.status == 200
    body = await response.json()
    teams = {t["name"]: t["agents_online"] for t in body["teams"]}
    assert teams == {"support": 2, "vip": 1, "risk-control": 0, "backup": 0, "en-desk": 0}
    assert body["agents"] == [  # alice herself and offline dave are not offered
        {"name": "bob", "teams": ["support", "vip"], "presence": "online", "free": 2},
        {"name": "carol", "teams": ["vip"], "presence": "away", "free": 3},
    ]
    admin = await host.client.get("/api/agent/targets", headers=admin_headers())
    assert [a["name"] for a in (await admin.json())["agents"]] == ["alice", "bob", "carol"]


async def test_only_agents_and_admins_ask(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    visitor = await host.visitor_token()
    for headers in ({}, {"Authorization": f"Bearer {visitor}"}, {"Authorization": "Bearer kfa_9_nope"}):
        response = await host.client.get("/api/agent/targets", headers=headers)
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "unauthorized"
