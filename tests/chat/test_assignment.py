"""Assignment on a running host: capacity holds under concurrency, queues drain in order, absent agents' chats return."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from kefu_host.keys import CHAT


async def test_fifty_conversations_at_once_never_exceed_capacity(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    agents = [await host.agent(await host.add_agent(f"agent{n}", capacity=3)) for n in range(4)]
    visitors = await asyncio.gather(*(host.visitor() for _ in range(50)))
    await asyncio.gather(*(v.say(f"help {n}") for n, v in enumerate(visitors)))

    # 12 of the 50 fill the four agents: each is told of three (waited for, not hoped for within a quiet spell)
    for a in agents:
        for _ in range(3):
            await a.expect("assigned")
    dispatcher = host.app[CHAT].service.dispatcher
    assert all(len(slot.active) <= slot.capacity for slot in dispatcher.agents.values())
    assert len(dispatcher.queues["support"]) == 50 - 12

    # what the store says agrees with what the agents were told
    rows = await host.app[CHAT].service.repo.live_conversations()
    per_agent: dict[int, int] = {}
    for r in rows:
        if r.status == "assigned":
            per_agent[r.agent_id] = per_agent.get(r.agent_id, 0) + 1
    assert sorted(per_agent.values()) == [3, 3, 3, 3]


async def test_the_queue_tells_visitors_their_place_and_drains_in_order(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    token = await host.add_agent("solo", capacity=1)
    first, second, third = [await host.visitor() for _ in range(3)]
    for v in (first, second, third):
        await v.say("hi")
    assert (await first.expect("queue"))["position"] == 1
    assert (await second.expect("queue"))["position"] == 2
    assert (await third.expect("queue"))["position"] == 3

    agent = await host.agent(token)  # comes online: takes the head of the queue
    assigned = await agent.expect("assigned")
    await first.expect("agent_joined")
    assert (await second.expect("queue"))["position"] == 1
    assert (await third.expect("queue"))["position"] == 2

    await agent.send({"type": "close", "conversation_id": assigned["conversation"]["id"]})
    await first.expect("closed", closed_by="agent")
    await second.expect("agent_joined", agent="solo")
    assert (await third.expect("queue"))["position"] == 1


async def test_an_agent_gone_past_the_grace_period_has_conversations_requeued(start_host: Callable[..., Any]) -> None:
    host = await start_host(environ={"KEFU_CHAT__AGENT_GRACE_PERIOD": "0.3"})
    leaving = await host.agent(await host.add_agent("leaving", capacity=2))
    visitor = await host.visitor()
    ack = await visitor.say("hello")
    await leaving.expect("assigned")
    await leaving.close()

    await visitor.expect("requeued", timeout=3)
    staying = await host.agent(await host.add_agent("staying"))
    assigned = await staying.expect("assigned")
    assert assigned["conversation"]["id"] == ack["conversation_id"]
    assert [m["body"] for m in assigned["messages"]] == ["hello"]  # the transcript came along


async def test_an_agent_back_within_the_grace_period_keeps_conversations(start_host: Callable[..., Any]) -> None:
    host = await start_host(environ={"KEFU_CHAT__AGENT_GRACE_PERIOD": "5"})
    token = await host.add_agent("flaky")
    agent = await host.agent(token)
    visitor = await host.visitor()
    ack = await visitor.say("hello")
    await agent.expect("assigned")
    await agent.close()
    agent = await host.agent(token)
    assert [c["id"] for c in agent.frames[0]["conversations"]] == [ack["conversation_id"]]
    await visitor.say("still there?")
    assert (await agent.expect("message"))["body"] == "still there?"


async def test_transfer_to_another_team_keeps_the_transcript(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    first = await host.agent(await host.add_agent("first", teams=("support",)))
    vip = await host.agent(await host.add_agent("vipdesk", teams=("vip",)))
    visitor = await host.visitor()
    ack = await visitor.say("I am a big customer")
    cid = ack["conversation_id"]
    await first.expect("assigned")
    await first.say(cid, "let me get the VIP desk")
    await first.send({"type": "transfer", "conversation_id": cid, "team": "vip"})

    await first.expect("unassigned", conversation_id=cid)
    assigned = await vip.expect("assigned")
    assert assigned["conversation"]["team"] == "vip" and assigned["conversation"]["transfers"] == 1
    assert [m["body"] for m in assigned["messages"]] == ["I am a big customer", "let me get the VIP desk"]
    await first.send({"type": "send", "conversation_id": cid, "client_msg_id": "late", "body": "x"})
    assert (await first.expect("error"))["code"] == "forbidden"


async def test_away_agents_get_nothing_new(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    away = await host.agent(await host.add_agent("away"), presence="away")
    visitor = await host.visitor()
    await visitor.say("anyone?")
    assert (await visitor.expect("queue"))["position"] == 1
    await away.send({"type": "presence", "status": "online"})
    await away.expect("assigned")


async def test_a_closed_conversation_reopens_on_the_next_visitor_message(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    agent = await host.agent(await host.add_agent("a"))
    visitor = await host.visitor()
    ack = await visitor.say("one")
    await agent.expect("assigned")
    await visitor.send({"type": "close"})
    await visitor.expect("closed", closed_by="visitor")
    again = await visitor.say("two")
    assert again["conversation_id"] == ack["conversation_id"] and again["seq"] == 2
    assigned = await agent.expect("assigned")
    assert [m["body"] for m in assigned["messages"]] == ["one", "two"]


async def test_idle_conversations_close(start_host: Callable[..., Any]) -> None:
    host = await start_host(environ={"KEFU_CHAT__IDLE_CLOSE_AFTER": "0.3"})
    agent = await host.agent(await host.add_agent("a"))
    visitor = await host.visitor()
    await visitor.say("hello")
    await agent.expect("assigned")
    await visitor.expect("closed", closed_by="idle", timeout=3)
