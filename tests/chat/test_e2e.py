"""The main path end to end, on real sockets: a visitor's message reaches an agent, in order, once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


async def test_visitor_and_agent_talk_and_a_dropped_agent_resumes_exactly(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    alice_token = await host.add_agent("alice")
    alice = await host.agent(alice_token)
    visitor = await host.visitor()

    ack = await visitor.say("hello, my order is late")
    assert ack["seq"] == 1 and ack["duplicate"] is False
    conversation_id = ack["conversation_id"]

    assigned = await alice.expect("assigned")
    assert assigned["conversation"]["id"] == conversation_id
    assert [m["body"] for m in assigned["messages"]] == ["hello, my order is late"]
    await visitor.expect("agent_joined", agent="alice")

    reply = await alice.say(conversation_id, "sorry! let me check")
    assert reply["seq"] == 2
    got = await visitor.expect("message", seq=2)
    assert (got["body"], got["sender"], got["sender_id"]) == ("sorry! let me check", "agent", "alice")

    # alice's socket drops mid-conversation; the visitor keeps writing; alice comes back with her last seq
    await alice.close()
    for n in range(3):
        await visitor.say(f"are you there? {n}")
    alice = await host.agent(alice_token, resume={conversation_id: 2})
    replayed = [await alice.expect("message") for _ in range(3)]
    assert [m["seq"] for m in replayed] == [3, 4, 5]
    assert [m["body"] for m in replayed] == [f"are you there? {n}" for n in range(3)]

    # then live messages, with nothing repeated
    await visitor.say("ok thanks")
    live = await alice.expect("message")
    assert (live["seq"], live["body"]) == (6, "ok thanks")
    assert [f for f in await alice.drain() if f["type"] == "message"] == []


async def test_a_resent_client_msg_id_is_stored_once(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    visitor = await host.visitor()
    first = await visitor.say("pay attention", client_msg_id="abc-1")
    again = await visitor.say("pay attention", client_msg_id="abc-1")
    assert again["duplicate"] is True
    assert (again["id"], again["seq"]) == (first["id"], first["seq"])
    history = await host.client.get(
        f"/api/conversations/{first['conversation_id']}/messages",
        headers={"Authorization": f"Bearer {visitor.token}"},  # type: ignore[attr-defined]
    )
    assert [m["body"] for m in (await history.json())["messages"]] == ["pay attention"]
