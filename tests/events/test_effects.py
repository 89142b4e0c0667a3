"""What an accepted event does next: the agent's screen refreshes, a queued chat re-routes, plugins hear it."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kefu_host.keys import CHAT, PLUGIN_MANAGER
from kefu_host.testing.events import envelope
from tests.chat.conftest import Host

VIP_RULES = """
group routing match first
rule vip.ltv priority 500 in group routing
  when customer.ltv >= 10000
  then assign_team "vip"
end
rule default.support priority -1000 in group routing
  when true
  then assign_team "support"
end
"""


async def identified_visitor(host: Host, uid: str) -> Any:
    from kefu_host.chat.tokens import identity_hash

    return await host.visitor(user_id=uid, user_hash=identity_hash("test-identity-secret", uid))


async def test_a_profile_change_reaches_the_agents_open_screen(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    agent = await host.agent(await host.add_agent("alice"))
    visitor = await identified_visitor(host, "u-100")
    cid = (await visitor.say("hi"))["conversation_id"]
    await agent.expect("assigned")

    await host.send("user.profile_updated", {"uid": "u-100", "name": "Li Lei", "avatar": "https://cdn.example/a.png"})
    update = await agent.expect("profile_update")
    assert update["conversation_id"] == cid
    assert update["changed"] == ["avatar_url", "name"]
    assert (update["customer"]["name"], update["customer"]["avatar_url"]) == ("Li Lei", "https://cdn.example/a.png")
    assert update["event"]["type"] == "user.profile_updated"
    assert [f for f in await visitor.drain() if f["type"] == "profile_update"] == []  # agents only


async def test_becoming_vip_reroutes_a_queued_conversation(
    start_host: Callable[..., Any], tmp_path: Path
) -> None:
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "routing.rule").write_text(textwrap.dedent(VIP_RULES))
    host = await start_host()
    vip = await host.agent(await host.add_agent("vip-desk", teams=("vip",)))
    visitor = await identified_visitor(host, "u-200")
    cid = (await visitor.say("hello"))["conversation_id"]
    assert (await visitor.expect("queue"))["team"] == "support"  # nobody in support is online

    await host.send("order.paid", {"uid": "u-200", "order_id": "big-1", "amount": "12000", "currency": "CNY"})
    assigned = await vip.expect("assigned")
    assert assigned["conversation"]["id"] == cid and assigned["conversation"]["team"] == "vip"
    decisions = await host.app[CHAT].service.repo.decisions(cid)
    assert (decisions[0]["trigger"], decisions[0]["team"], decisions[0]["outcome"]) == ("event", "vip", "assigned")


PLUGIN = """
from kefu_host import hookimpl
from kefu_host.events.types import EventType

class Tickets:
    def __init__(self):
        self.seen = []

    @hookimpl
    def kefu_event_types(self):
        return [EventType("ticket.changed", {"type": "object", "required": ["uid", "ticket_id", "status"],
                          "properties": {"uid": {"type": "string"}, "ticket_id": {"type": "string"},
                                         "status": {"enum": ["open", "pending", "solved"]}}})]

    @hookimpl
    async def kefu_event_received(self, event, customer):
        self.seen.append((event.type, event.data["status"], customer.uid if customer else None))

def kefu_plugin(settings):
    return Tickets()
"""


async def test_plugins_add_event_types_and_hear_each_event_once(
    start_host: Callable[..., Any], tmp_path: Path
) -> None:
    (tmp_path / "tickets.py").write_text(textwrap.dedent(PLUGIN))
    host = await start_host(plugins=[(str(tmp_path / "tickets.py"), {})])
    changed = envelope("ticket.changed", {"uid": "u-300", "ticket_id": "T-1", "status": "solved"})
    assert (await host.post(changed)).status == 200
    assert (await host.post(changed)).status == 200  # a duplicate: not heard again
    bad = await host.post(envelope("ticket.changed", {"uid": "u-300", "ticket_id": "T-1", "status": "lost"}))
    assert bad.status == 422 and (await bad.json())["error"]["field"] == "data.status"
    plugin = host.app[PLUGIN_MANAGER].get_plugin("tickets")
    assert plugin.seen == [("ticket.changed", "solved", "u-300")]


async def test_every_accepted_event_reaches_the_agents_customer_panel(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    agent = await host.agent(await host.add_agent("alice"))
    visitor = await identified_visitor(host, "u-200")
    cid = (await visitor.say("hi"))["conversation_id"]
    await agent.expect("assigned")

    answer = await host.send("order.refunded", {"uid": "u-200", "order_id": "o-5", "amount": "0", "currency": "CNY"})
    seen = await agent.expect("customer_event")
    assert (seen["conversation_id"], seen["event"]["id"], seen["event"]["type"]) == (
        cid, answer["id"], "order.refunded")
    assert seen["event"]["data"]["order_id"] == "o-5"
    await host.post(envelope("order.refunded", {"uid": "u-200", "order_id": "o-5", "amount": "0", "currency": "CNY"},
                             event_id=answer["id"]))  # a repeat is no new event
    await host.send("user.login", {"uid": "u-200"})
    assert (await agent.expect("customer_event"))["event"]["type"] == "user.login"
    assert [f for f in agent.frames if f["type"] == "customer_event"][-2]["event"]["type"] == "order.refunded"
    assert [f for f in await visitor.drain() if f["type"] == "customer_event"] == []
