"""Two nodes in one test process, on one PostgreSQL database and one Redis: the chat core across nodes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from kefu_host.keys import CHAT, STORE
from tests.chat.conftest import Host
from tests.store.locks import lock_waiters


async def two_nodes(start_host: Callable[..., Any], pg_url: str, redis_url: str, **env: str) -> tuple[Host, Host]:
    environ = {"KEFU_CLUSTER__REDIS_URL": redis_url, "KEFU_CLUSTER__HEARTBEAT_INTERVAL": "0.2",
               "KEFU_CLUSTER__SESSION_TTL": "5", **env}
    a = await start_host(db_url=pg_url, environ={**environ, "KEFU_CLUSTER__NODE_ID": "a"})
    b = await start_host(db_url=pg_url, environ={**environ, "KEFU_CLUSTER__NODE_ID": "b"})
    return a, b


@pytest.mark.redis
async def test_a_visitor_on_one_node_chats_with_an_agent_on_another(
    start_host: Callable[..., Any], pg_url: str, redis_url: str
) -> None:
    a, b = await two_nodes(start_host, pg_url, redis_url)
    agent = await a.agent(await a.add_agent("ann", capacity=1))
    visitor = await b.visitor(token=await b.visitor_token())
    ack = await visitor.say("hello from b")
    assigned = await agent.expect("assigned")
    cid = assigned["conversation"]["id"]
    assert ack["conversation_id"] == cid and ack["seq"] == 1
    await visitor.expect("agent_joined", agent="ann")
    seqs = [m["seq"] for m in assigned["messages"]]
    for n in range(5):
        sent = await agent.say(cid, f"answer {n}")
        got = await visitor.expect("message", seq=sent["seq"])
        assert got["body"] == f"answer {n}"
        seqs.append(sent["seq"])
        ack = await visitor.say(f"question {n}")
        got = await agent.expect("message", seq=ack["seq"])
        seqs.append(ack["seq"])
    assert seqs == list(range(1, 12))
    acks = [f for f in visitor.frames if f["type"] == "ack"]
    assert len(acks) == 6

    # capacity 1 holds across nodes: a second visitor on a waits in the queue
    second = await a.visitor(token=await a.visitor_token())
    await second.say("me too")
    assert (await second.expect("queue"))["position"] == 1
    async with a.app[STORE].read() as conn:
        assert (await conn.execute(text("SELECT load, capacity FROM agents"))).one() == (1, 1)

    await agent.send({"type": "close", "conversation_id": cid})
    await visitor.expect("closed", closed_by="agent")
    nxt = await agent.expect("assigned")
    assert nxt["conversation"]["id"] != cid
    await second.expect("agent_joined", agent="ann")


@pytest.mark.redis
async def test_an_agent_gone_past_grace_is_requeued_once_by_one_node(
    start_host: Callable[..., Any], pg_url: str, redis_url: str
) -> None:
    a, b = await two_nodes(start_host, pg_url, redis_url, KEFU_CHAT__AGENT_GRACE_PERIOD="0.5")
    token = await a.add_agent("ann", capacity=2)
    agent = await a.agent(token)
    visitor = await b.visitor(token=await b.visitor_token())
    await visitor.say("hello")
    cid = (await agent.expect("assigned"))["conversation"]["id"]
    await visitor.expect("agent_joined")
    await agent.close()  # gone; both nodes sweep, one re-queues
    await visitor.expect("requeued", timeout=30)
    back = await b.agent(token)  # back on the other node: the conversation is handed to it again
    assert (await back.expect("assigned"))["conversation"]["id"] == cid
    async with a.app[STORE].read() as conn:
        requeues = (await conn.execute(text(
            "SELECT count(*) FROM routing_decisions WHERE conversation_id = :c AND trigger = 'requeue'"),
            {"c": cid})).scalar()
    assert requeues == 1
    assert [f["type"] for f in visitor.frames + await visitor.drain(0.5)].count("requeued") == 1


@pytest.mark.redis
async def test_a_visitor_writing_after_a_close_on_another_node_reopens_the_conversation(
    start_host: Callable[..., Any], pg_url: str, redis_url: str
) -> None:
    """The visitor's node sends each message to the conversation it knows, checked under the row lock by the
    append itself: closed on the agent's node, it is reopened and routed, and no message lands in a closed one."""
    a, b = await two_nodes(start_host, pg_url, redis_url)
    agent = await a.agent(await a.add_agent("ann", capacity=1))
    visitor = await b.visitor(token=await b.visitor_token())
    await visitor.say("hello")
    cid = (await agent.expect("assigned"))["conversation"]["id"]
    await visitor.expect("agent_joined", agent="ann")
    for n in range(3):  # routed on b from what each append returned: still ann's, nothing moves
        ack = await visitor.say(f"question {n}")
        await agent.expect("message", seq=ack["seq"])
    await agent.send({"type": "close", "conversation_id": cid})
    await visitor.expect("closed", closed_by="agent")

    ack = await visitor.say("one more thing")
    assert ack["conversation_id"] == cid and ack["seq"] == 5
    again = await agent.expect("assigned")
    assert again["conversation"]["id"] == cid and again["conversation"]["status"] == "assigned"
    assert "one more thing" in [m["body"] for m in again["messages"]]
    async with a.app[STORE].read() as conn:
        rows = (await conn.execute(text(
            "SELECT status, last_seq, (SELECT count(*) FROM messages WHERE conversation_id = :c) "
            "FROM conversations WHERE id = :c"), {"c": cid})).one()
        decisions = (await conn.execute(text(
            "SELECT trigger FROM routing_decisions WHERE conversation_id = :c ORDER BY id"), {"c": cid})).scalars()
        triggers = list(decisions)
    assert tuple(rows) == ("assigned", 5, 5)
    assert triggers.count("open") == 2  # first contact and the reopening: the messages between were only kept


async def test_one_visitor_writing_first_on_two_nodes_at_once_opens_one_conversation(
    start_host: Callable[..., Any], pg_url: str, redis_url: str
) -> None:
    """Two tabs of a new visitor, on two nodes, send their first messages at once: both nodes find no conversation
    and insert one. Deterministic: a trigger holds each insert (on an advisory lock the test holds) until both nodes
    have read "none" and are inserting; then both go on, and the database lets one of them open it."""
    a, b = await two_nodes(start_host, pg_url, redis_url)
    gate = await asyncpg.connect(pg_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await gate.execute("CREATE FUNCTION hold_insert() RETURNS trigger LANGUAGE plpgsql AS "
                           "$$ BEGIN PERFORM pg_advisory_xact_lock_shared(4242); RETURN NEW; END $$")
        await gate.execute("CREATE TRIGGER hold BEFORE INSERT ON conversations FOR EACH ROW "
                           "EXECUTE FUNCTION hold_insert()")
        await gate.execute("SELECT pg_advisory_lock(4242)")
        token = await a.visitor_token()
        tab_a, tab_b = await a.visitor(token=token), await b.visitor(token=token)
        sent = asyncio.gather(tab_a.say("hello from a"), tab_b.say("hello from b"))
        await until_lock_waiters(pg_url, 2)  # both nodes are inserting the customer's first conversation
        await gate.execute("SELECT pg_advisory_unlock(4242)")
        ack_a, ack_b = await sent
    finally:
        await gate.close()
    assert ack_a["conversation_id"] == ack_b["conversation_id"]
    assert sorted([ack_a["seq"], ack_b["seq"]]) == [1, 2]  # both messages, in the one conversation
    async with a.app[STORE].read() as conn:
        rows = (await conn.execute(text("SELECT id, status, last_seq FROM conversations"))).all()
    assert rows == [(ack_a["conversation_id"], "queued", 2)]


async def decisions(host: Host, cid: int) -> int:
    async with host.app[STORE].read() as conn:
        return int((await conn.execute(
            text("SELECT count(*) FROM routing_decisions WHERE conversation_id = :c"), {"c": cid})).scalar())


async def until_lock_waiters(url: str, count: int) -> None:
    async with asyncio.timeout(20):
        while await lock_waiters(url) < count:
            await asyncio.sleep(0.01)


@pytest.mark.redis
async def test_a_take_of_a_chat_another_node_moved_meanwhile_is_refused_and_the_chat_stays_moved(
    start_host: Callable[..., Any], pg_url: str, redis_url: str
) -> None:
    a, b = await two_nodes(start_host, pg_url, redis_url)
    alice = await b.agent(await b.add_agent("alice", teams=("support", "vip"), capacity=2), presence="away")
    visitor = await a.visitor(token=await a.visitor_token())
    cid = (await visitor.say("anyone?"))["conversation_id"]  # waits in support: alice is away
    async with asyncio.timeout(20):  # node a placed it (the decision is recorded after the placement)
        while not await decisions(a, cid):
            await asyncio.sleep(0.01)
    seats = b.app[CHAT].service.seats
    take = seats.take

    async def moved_first(conversation_id: int, agent_id: int, team: str) -> Any:
        """Node b saw it waiting in support; before its take runs, another node's transfer to vip lands."""
        seats.take = take
        async with a.app[STORE].engines.write.begin() as conn:
            await conn.execute(text("UPDATE conversations SET team = 'vip' WHERE id = :c"), {"c": cid})
        return await take(conversation_id, agent_id, team)

    seats.take = moved_first
    await alice.send({"type": "take", "conversation_id": cid})
    assert (await alice.expect("error"))["code"] == "not_queued"  # not "at_capacity": she has room
    async with a.app[STORE].read() as conn:
        assert (await conn.execute(text("SELECT status, team, agent_id FROM conversations"))).one() == (
            "queued", "vip", None)
    await alice.send({"type": "take", "conversation_id": cid})  # where it waits now, it is hers to take
    assigned = await alice.expect("assigned")
    assert (assigned["conversation"]["id"], assigned["conversation"]["team"]) == (cid, "vip")


@pytest.mark.redis
async def test_an_agent_send_is_checked_by_the_store_when_its_node_has_not_heard_of_a_change(
    start_host: Callable[..., Any], pg_url: str, redis_url: str
) -> None:
    """With several nodes an agent's node sends the message and the append checks, under the row lock, that the
    agent still holds the conversation: a change whose publication never reached this node (here written
    straight to the database) cannot let a message in."""
    a, b = await two_nodes(start_host, pg_url, redis_url)
    agent = await a.agent(await a.add_agent("ann", capacity=1))
    visitor = await b.visitor(token=await b.visitor_token())
    await visitor.say("hello")
    cid = (await agent.expect("assigned"))["conversation"]["id"]
    sent = await agent.say(cid, "hi, I am ann")
    assert sent["seq"] == 2
    await b.add_agent("bob", capacity=1)
    async with a.app[STORE].read() as conn:
        await conn.execute(text("UPDATE conversations SET agent_id = (SELECT id FROM agents WHERE name = 'bob') "
                                "WHERE id = :c"), {"c": cid})
        await conn.commit()

    await agent.send({"type": "send", "conversation_id": cid, "client_msg_id": "late", "body": "still me?"})
    error = await agent.expect("error", ref="late")
    assert error["code"] == "forbidden"
    async with a.app[STORE].read() as conn:
        bodies = (await conn.execute(text(
            "SELECT body FROM messages WHERE conversation_id = :c ORDER BY seq"), {"c": cid})).scalars().all()
    assert bodies == ["hello", "hi, I am ann"]


@pytest.mark.redis
async def test_unread_counts_are_the_same_on_every_node(
    start_host: Callable[..., Any], pg_url: str, redis_url: str
) -> None:
    """The visitor writes through one node, the agent reads through the other: the count is the store's."""
    a, b = await two_nodes(start_host, pg_url, redis_url)
    token = await a.add_agent("ann", capacity=1)
    agent = await a.agent(token)
    visitor = await b.visitor(token=await b.visitor_token())
    cid = (await visitor.say("one"))["conversation_id"]
    await agent.expect("assigned")
    await visitor.say("two")
    last = await visitor.say("three")
    await agent.expect("message", seq=last["seq"])
    await agent.close()

    for node in (a, b):
        again = await node.agent(token)
        [view] = welcome(again)["conversations"]
        assert (view["id"], view["unread"]) == (cid, 3)
        await again.close()
    on_b = await b.agent(token)
    await on_b.send({"type": "read", "conversation_id": cid, "seq": last["seq"]})
    await visitor.expect("read")
    await visitor.say("four")
    await on_b.expect("message", seq=last["seq"] + 1)
    await on_b.close()
    again = await a.agent(token)
    assert welcome(again)["conversations"][0]["unread"] == 1
    await again.say(cid, "answered")
    await again.close()
    again = await b.agent(token)
    assert welcome(again)["conversations"][0]["unread"] == 0


def welcome(client: Any) -> dict[str, Any]:
    return next(f for f in client.frames if f["type"] == "welcome")


@pytest.mark.redis
async def test_an_agent_sees_what_waits_in_its_teams_whichever_node_the_visitors_are_on(
    start_host: Callable[..., Any], pg_url: str, redis_url: str
) -> None:
    """A node's memory holds only its own visitors' conversations: with several nodes the ``queues`` frame is read
    from the store and reaches the team's agents on every node."""
    a, b = await two_nodes(start_host, pg_url, redis_url)
    token = await a.add_agent("ann", capacity=1)
    agent = await a.agent(token)
    first = await a.visitor(token=await a.visitor_token())
    await first.say("first")
    await agent.expect("assigned")
    waiting = await b.visitor(token=await b.visitor_token())
    cid = (await waiting.say("waiting on b"))["conversation_id"]
    await waiting.say("still here")

    def listed(f: dict[str, Any]) -> list[tuple[int, int, int, str]]:
        return [(w["conversation_id"], w["position"], w["unread"], (w["last_message"] or {}).get("body"))
                for t in f["teams"] for w in t["waiting"]]

    while True:  # frames come as the queue changes; the last one shows both messages
        frame = await agent.expect("queues")
        if listed(frame) == [(cid, 1, 2, "still here")]:
            break
    again = await a.agent(token)  # a reload: the welcome reads the same
    assert listed({"teams": welcome(again)["queues"]}) == [(cid, 1, 2, "still here")]
    await again.send({"type": "take", "conversation_id": cid})
    assert (await again.expect("error"))["code"] == "at_capacity"
