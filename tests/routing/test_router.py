"""Rules route real conversations: on open, on every visitor message, and every decision is explained."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import update

from kefu_host.keys import CHAT, RULES, STORE
from kefu_host.store.models import Customer
from tests.conftest import admin_headers


async def set_ltv(host: Any, customer_id: int, ltv: int) -> None:
    async def write(conn: Any) -> None:
        await conn.execute(update(Customer).where(Customer.id == customer_id).values(ltv_cents=ltv * 100))

    await host.app[STORE].writer.transaction(write)


async def test_a_new_conversation_goes_where_the_rules_say(
    start_host: Callable[..., Any], write_rules: Callable[..., Any]
) -> None:
    write_rules()
    host = await start_host()
    vip_agent = await host.agent(await host.add_agent("vip-1", teams=("vip",)))
    session = await host.visitor_session()
    await set_ltv(host, session["customer_id"], 25000)
    visitor = await host.visitor(token=session["token"])
    ack = await visitor.say("hello")
    assigned = await vip_agent.expect("assigned")
    assert assigned["conversation"]["team"] == "vip"

    detail = await (await host.client.get(f"/api/conversations/{ack['conversation_id']}", headers=admin_headers())).json()
    opened = detail["decisions"][-1]
    assert (opened["trigger"], opened["team"], opened["outcome"]) == ("open", "vip", "assigned")
    assert opened["fired"] == ["vip.ltv"]
    assert opened["revision"] == host.app[RULES].holder.current.revision


async def test_sensitive_words_move_an_assigned_conversation_mid_chat(
    start_host: Callable[..., Any], write_rules: Callable[..., Any]
) -> None:
    write_rules()
    host = await start_host()
    support = await host.agent(await host.add_agent("s1", teams=("support",)))
    risk = await host.agent(await host.add_agent("r1", teams=("risk-control",)))
    visitor = await host.visitor()
    cid = (await visitor.say("where is my parcel"))["conversation_id"]
    await support.expect("assigned")
    await visitor.say("你们这是诈骗！")

    await support.expect("unassigned", conversation_id=cid)
    moved = await risk.expect("assigned")
    conversation = moved["conversation"]
    assert (conversation["team"], conversation["priority"], conversation["tags"]) == ("risk-control", 200, ["sensitive"])
    assert [m["body"] for m in moved["messages"]] == ["where is my parcel", "你们这是诈骗！"]

    decisions = (await (await host.client.get(f"/api/conversations/{cid}", headers=admin_headers())).json())["decisions"]
    latest = decisions[0]
    assert (latest["trigger"], latest["outcome"], latest["fired"]) == ("message", "transferred", ["risk.words"])
    state = host.app[CHAT].service.live[cid]
    assert state.team == "risk-control"


async def test_an_unchanged_message_decision_is_not_stored_again(
    start_host: Callable[..., Any], write_rules: Callable[..., Any]
) -> None:
    write_rules()
    host = await start_host()
    await host.agent(await host.add_agent("s1"))
    visitor = await host.visitor()
    cid = (await visitor.say("one"))["conversation_id"]
    for text in ("two", "three", "four"):
        await visitor.say(text)
    decisions = await host.app[CHAT].service.repo.decisions(cid)
    assert [d["trigger"] for d in decisions] == ["open"]


async def test_with_allow_empty_a_host_without_rules_routes_to_the_default_team(
    start_host: Callable[..., Any], rules_dir: Any
) -> None:
    host = await start_host(environ={"KEFU_RULES__ALLOW_EMPTY": "true", "KEFU_CHAT__DEFAULT_TEAM": "backup"})
    assert host.app[RULES].holder.current.rules == ()
    agent = await host.agent(await host.add_agent("b-1", teams=("backup",)))
    await (await host.visitor()).say("hello")
    assert (await agent.expect("assigned"))["conversation"]["team"] == "backup"
