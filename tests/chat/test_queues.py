"""Team queues on the agent socket: the welcome lists what waits in the agent's teams, ``queues`` frames follow
every change (queued, written to, assigned, taken, closed), an agent takes a waiting chat; unread counts per
conversation, reset by the agent's ``read`` or a reply."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from kefu_host.chat.tokens import identity_hash
from kefu_host.keys import CHAT, STORE
from tests.chat.test_visitor_ws import decisions
from tests.store.locks import holding_writes, lock_waiters, until


def waiting(frame: dict[str, Any], team: str) -> list[dict[str, Any]]:
    teams = {t["team"]: t for t in frame["teams"] if t["team"] == team}
    entry = teams[team]
    assert entry["count"] == len(entry["waiting"])  # these tests never queue more than a frame lists
    return entry["waiting"]


async def test_waiting_chats_show_in_the_teams_queue_live(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    away = await host.agent(await host.add_agent("alice", teams=("support", "vip")), presence="away")
    welcome = away.frames[0]
    assert [t["team"] for t in welcome["queues"]] == ["support", "vip"]
    assert all(t["count"] == 0 and t["waiting"] == [] for t in welcome["queues"])
    outsider = await host.agent(await host.add_agent("carol", teams=("en-desk",)), presence="away")

    li = await host.visitor(user_id="u-1", user_hash=identity_hash("test-identity-secret", "u-1"), name="Li Lei")
    first = await li.say("where is my order?")
    shown = waiting(await away.expect("queues"), "support")
    assert [(w["conversation_id"], w["position"], w["unread"]) for w in shown] == [(first["conversation_id"], 1, 1)]
    assert shown[0]["customer"]["name"] == "Li Lei"
    assert (shown[0]["last_message"]["kind"], shown[0]["last_message"]["body"]) == ("text", "where is my order?")

    await li.say("order 7, paid yesterday")
    shown = waiting(await away.expect("queues"), "support")
    assert shown[0]["last_message"]["body"] == "order 7, paid yesterday" and shown[0]["unread"] == 2
    other = await host.visitor()
    second = (await other.say("hello?"))["conversation_id"]
    shown = waiting(await away.expect("queues"), "support")
    assert [w["conversation_id"] for w in shown] == [first["conversation_id"], second]

    # an agent coming online gets the first; the queue shrinks for everyone of the team
    bob = await host.agent(await host.add_agent("bob", teams=("support",), capacity=1))
    welcomed = waiting({"teams": bob.frames[0]["queues"]}, "support")  # as it was before bob counted
    assert [w["conversation_id"] for w in welcomed] == [first["conversation_id"], second]
    assigned = await bob.expect("assigned")
    assert assigned["conversation"]["id"] == first["conversation_id"]
    assert assigned["conversation"]["unread"] == 2
    shown = waiting(await away.expect("queues"), "support")
    assert [w["conversation_id"] for w in shown] == [second]

    await other.send({"type": "close"})
    assert waiting(await away.expect("queues"), "support") == []
    assert [f for f in await outsider.drain() if f["type"] == "queues"] == []  # not its team


async def test_an_agent_takes_a_waiting_chat(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    alice = await host.agent(await host.add_agent("alice", teams=("support",), capacity=1), presence="away")
    carol = await host.agent(await host.add_agent("carol", teams=("vip",)), presence="away")
    visitor = await host.visitor()
    cid = (await visitor.say("anyone?"))["conversation_id"]
    await alice.expect("queues")

    await carol.send({"type": "take", "conversation_id": cid})  # not carol's team
    assert (await carol.expect("error"))["code"] == "not_queued"
    await carol.send({"type": "take", "conversation_id": cid + 99})
    assert (await carol.expect("error"))["code"] == "not_queued"

    await alice.send({"type": "take", "conversation_id": cid})  # away, but taking is the agent's own choice
    assigned = await alice.expect("assigned")
    assert assigned["conversation"]["id"] == cid
    assert waiting(await alice.expect("queues"), "support") == []
    assert (await visitor.expect("agent_joined"))["agent"] == "alice"
    await alice.send({"type": "take", "conversation_id": cid})
    assert (await alice.expect("error"))["code"] == "not_queued"

    other = await host.visitor()
    second = (await other.say("me too"))["conversation_id"]
    await alice.expect("queues")
    await alice.send({"type": "take", "conversation_id": second})  # capacity 1, already holding one
    assert (await alice.expect("error"))["code"] == "at_capacity"
    await alice.send({"type": "take", "conversation_id": "7"})
    assert (await alice.expect("error"))["code"] == "bad_frame"


async def test_unread_counts_survive_a_reconnect_and_reset_on_read_or_reply(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    token = await host.add_agent("alice")
    agent = await host.agent(token)
    visitor = await host.visitor()
    cid = (await visitor.say("one"))["conversation_id"]
    await agent.expect("assigned")
    await visitor.say("two")
    last = await visitor.say("three")
    await agent.expect("message", seq=last["seq"])
    await agent.close()

    again = await host.agent(token)
    [view] = again.frames[0]["conversations"]
    assert (view["id"], view["unread"]) == (cid, 3)
    await again.send({"type": "read", "conversation_id": cid, "seq": last["seq"] - 1})  # not up to the last one
    await visitor.expect("read")
    await again.close()
    again = await host.agent(token)
    assert again.frames[0]["conversations"][0]["unread"] == 3

    await again.send({"type": "read", "conversation_id": cid, "seq": last["seq"]})
    await visitor.expect("read")
    await again.close()
    again = await host.agent(token)
    assert again.frames[0]["conversations"][0]["unread"] == 0

    await visitor.say("four")
    await again.expect("message")
    await again.note(cid, "only a note: still unread")
    await again.close()
    again = await host.agent(token)
    assert again.frames[0]["conversations"][0]["unread"] == 1
    await again.say(cid, "answered")
    await again.close()
    again = await host.agent(token)
    assert again.frames[0]["conversations"][0]["unread"] == 0


@pytest.fixture(params=["sqlite", "postgresql", "postgresql cluster"])
def store_setup(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A host's database URL and environment: on a SQLite file, on PostgreSQL, or as a node of a cluster."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/store.db", {}
    url = request.getfixturevalue("pg_url")
    if request.param == "postgresql":
        return url, {}
    return url, {"KEFU_CLUSTER__REDIS_URL": request.getfixturevalue("redis_url"), "KEFU_CLUSTER__NODE_ID": "a"}


async def test_a_take_while_the_writer_is_full_answers_store_busy_and_the_take_sent_again_works(
    start_host: Callable[..., Any], store_setup: tuple[str, dict[str, str]]
) -> None:
    """With the writer's chat lane full (one batch stuck on a lock, two writes queued) a ``take`` is refused like a
    send: ``store_busy`` with ``retry_after``, the chat still waiting; sent again once the lane drains, it is taken."""
    db_url, environ = store_setup
    host = await start_host(db_url=db_url, environ={
        "KEFU_DATABASE__CHAT_QUEUE_LIMIT": "2", "KEFU_DATABASE__BUSY_RETRY_AFTER": "2.5",
        "KEFU_DATABASE__SQLITE_BUSY_TIMEOUT": "120", **environ,
    })
    writer = host.app[STORE].writer
    alice = await host.agent(await host.add_agent("alice", teams=("support",), capacity=1), presence="away")
    visitors = [await host.visitor() for _ in range(4)]
    cids = [(await visitor.say(f"hello {n}"))["conversation_id"] for n, visitor in enumerate(visitors)]
    async with asyncio.timeout(20):  # each was routed (queued: nobody online), which writes after the ack
        while await decisions(host) < 4 or writer.in_flight() or writer.pending():
            await asyncio.sleep(0.01)
    async with holding_writes(db_url, "messages"):
        await visitors[1].send({"type": "send", "client_msg_id": "m1", "body": "stuck"})
        await until(lambda: writer.in_flight() == 1 and writer.pending() == 0)
        for n in (2, 3):
            await visitors[n].send({"type": "send", "client_msg_id": f"m{n}", "body": "queued"})
        await until(lambda: writer.pending() == 2)
        await alice.send({"type": "take", "conversation_id": cids[0]})
        refused = await alice.expect("error")
        assert (refused["code"], refused["retry_after"]) == ("store_busy", 2.5)
    for n in (1, 2, 3):
        await visitors[n].expect("ack", client_msg_id=f"m{n}")
    await alice.send({"type": "take", "conversation_id": cids[0]})
    assert (await alice.expect("assigned"))["conversation"]["id"] == cids[0]
    assert (await visitors[0].expect("agent_joined"))["agent"] == "alice"


async def test_unread_counts_survive_a_restart(start_host: Callable[..., Any], db_url: str) -> None:
    """Kept in the store (what the agent has read up to), so a restarted host counts as the old one did."""
    db = db_url
    host = await start_host(db_url=db)
    token = await host.add_agent("alice")
    agent = await host.agent(token)
    visitor = await host.visitor()
    cid = (await visitor.say("one"))["conversation_id"]
    await agent.expect("assigned")
    await visitor.say("two")
    read_up_to = await visitor.say("three")
    await agent.expect("message", seq=read_up_to["seq"])
    await agent.send({"type": "read", "conversation_id": cid, "seq": read_up_to["seq"]})
    await visitor.expect("read")
    last = await visitor.say("four")
    await agent.expect("message", seq=last["seq"])
    await agent.close()
    await visitor.close()
    await host.client.close()

    host = await start_host(db_url=db)
    again = await host.agent(token)
    [view] = again.frames[0]["conversations"]
    assert (view["id"], view["unread"]) == (cid, 1)  # "four", as before the restart


@pytest.mark.redis
async def test_a_node_stopping_while_it_reads_a_queue_leaves_no_connection_behind(
    start_host: Callable[..., Any], pg_url: str, redis_url: str
) -> None:
    """With several nodes a queue change is read from the store in the background. Stopping the node ends that
    read before the store closes: left running, its connection stayed in a transaction, and whatever next needed
    the tables' locks (a migration, a schema reset) waited for it for ever."""
    host = await start_host(db_url=pg_url, environ={"KEFU_CLUSTER__REDIS_URL": redis_url})
    gate = await asyncpg.connect(pg_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        async with gate.transaction():
            await gate.execute("LOCK TABLE conversations IN ACCESS EXCLUSIVE MODE")
            host.app[CHAT].service.board.announce("support")
            async with asyncio.timeout(20):
                while await lock_waiters(pg_url) == 0:  # the queue read waits for the table
                    await asyncio.sleep(0.01)
            await host.client.close()
            async with asyncio.timeout(20):
                while await lock_waiters(pg_url):  # and is gone with the node, lock or no lock
                    await asyncio.sleep(0.01)
    finally:
        await gate.close()
