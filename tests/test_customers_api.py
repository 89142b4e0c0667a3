"""``GET /api/customers/{id}``: the customer and its recent business events, for agents who had its conversations
and admins; everyone else gets the same 404 whether the customer exists or not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kefu_host.chat.tokens import identity_hash
from tests.chat.conftest import Host
from tests.conftest import admin_headers
from tests.events.conftest import SOURCES, EventHost


async def test_the_customer_with_its_latest_events_first(start_app: Callable[..., Any]) -> None:
    host = EventHost(await start_app(SOURCES))
    token = await host.add_agent("alice")
    agent = await host.agent(token)
    visitor = await host.visitor(user_id="u-9", user_hash=identity_hash("test-identity-secret", "u-9"))
    await visitor.say("hi")
    cid = (await agent.expect("assigned"))["conversation"]["customer_id"]
    await host.send("user.login", {"uid": "u-9", "ip": "10.0.0.1"}, occurred_at="2026-11-01T10:00:00+00:00")
    await host.send("order.paid", {"uid": "u-9", "order_id": "o-1", "amount": "99.50", "currency": "CNY"},
                    occurred_at="2026-11-02T10:00:00+00:00")
    await host.send("user.profile_updated", {"uid": "u-9", "name": "Li Lei"}, occurred_at="2026-11-01T12:00:00+00:00")
    await host.send("user.login", {"uid": "someone-else"})

    response = await host.client.get(f"/api/customers/{cid}", headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200
    body = await response.json()
    assert (body["customer"]["uid"], body["customer"]["name"], body["customer"]["ltv"]) == ("u-9", "Li Lei", 99.5)
    assert [e["type"] for e in body["events"]] == ["order.paid", "user.profile_updated", "user.login"]
    assert body["events"][0]["data"]["order_id"] == "o-1" and body["events"][0]["source"] == "shop"

    limited = await host.client.get(f"/api/customers/{cid}?events=1", headers=admin_headers())
    assert [e["type"] for e in (await limited.json())["events"]] == ["order.paid"]
    bad = await host.client.get(f"/api/customers/{cid}?events=101", headers=admin_headers())
    assert bad.status == 400 and (await bad.json())["error"]["field"] == "events"


async def test_no_id_oracle(start_app: Callable[..., Any]) -> None:
    host = Host(await start_app())
    await host.agent(await host.add_agent("alice"))
    outsider = await host.add_agent("carol", teams=("vip",))
    visitor = await host.visitor()
    await visitor.say("hi")
    existing = (await host.visitor_session())["customer_id"] - 1  # the chatting visitor's customer
    missing = existing + 1000
    for headers in ({}, {"Authorization": f"Bearer {outsider}"}, {"Authorization": f"Bearer {visitor.token}"},
                    {"Authorization": "Bearer kfa_1_wrong"}):
        seen = await host.client.get(f"/api/customers/{existing}", headers=headers)
        unseen = await host.client.get(f"/api/customers/{missing}", headers=headers)
        assert seen.status == unseen.status and seen.status in (401, 404)
        assert (await seen.text()).replace(str(existing), "N") == (await unseen.text()).replace(str(missing), "N")
    anonymous = await host.client.get(f"/api/customers/{existing}", headers=admin_headers())
    assert anonymous.status == 200 and (await anonymous.json())["events"] == []
