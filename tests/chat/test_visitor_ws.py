"""The visitor socket: one message rate per customer, however many tabs they open."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from kefu_host.keys import CHAT, STORE
from kefu_host.store.models import Message, RoutingDecision
from tests.store.locks import holding_writes, until


async def test_five_tabs_share_one_rate(start_host: Callable[..., Any]) -> None:
    host = await start_host(environ={"KEFU_CHAT__VISITOR_RATE": "0.01", "KEFU_CHAT__VISITOR_BURST": "3"})
    token = await host.visitor_token()
    tabs = [await host.visitor(token) for _ in range(5)]
    answers = []
    for n, tab in enumerate(tabs):
        await tab.send({"type": "send", "client_msg_id": f"tab-{n}", "body": f"from tab {n}"})
        answers.append(await _answer(tab, f"tab-{n}"))
    assert answers == ["ack", "ack", "ack", "rate_limited", "rate_limited"]

    for tab in tabs:
        await tab.close()
    again = await host.visitor(token)  # reconnecting buys no fresh burst
    await again.send({"type": "send", "client_msg_id": "after", "body": "again"})
    assert await _answer(again, "after") == "rate_limited"


async def _answer(tab: Any, client_msg_id: str) -> str:
    """"ack" or the error code the host answered this message with."""
    while True:
        frame = await tab.receive()
        if frame["type"] == "ack" and frame["client_msg_id"] == client_msg_id:
            return "ack"
        if frame["type"] == "error" and frame.get("ref") == client_msg_id:
            return str(frame["code"])


async def test_the_buckets_of_visitors_who_left_are_dropped(
    start_host: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    host = await start_host(environ={"KEFU_CHAT__VISITOR_RATE": "1e9", "KEFU_CHAT__VISITOR_BURST": "2"})
    limits = host.app[CHAT].auth.visitor_rate
    released: asyncio.Queue[object] = asyncio.Queue()
    let_go = limits.release

    def release(key: object) -> None:
        let_go(key)
        released.put_nowait(key)

    monkeypatch.setattr(limits, "release", release)
    visitors = [await host.visitor() for _ in range(3)]
    assert len(limits) == 3
    for visitor in visitors:
        await visitor.say("hi")
        await visitor.close()
    for _ in visitors:
        await asyncio.wait_for(released.get(), 5)  # each socket's handler let its bucket go
    await host.visitor()  # full again at once at this rate; the next visitor's arrival sweeps them
    assert len(limits) == 1


async def test_the_welcome_names_the_agent_helping_the_visitor(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    visitor = await host.visitor()
    cid = int((await visitor.say("anyone there?"))["conversation_id"])
    waiting = (await host.visitor(visitor.token)).frames[0]  # type: ignore[attr-defined]
    assert (waiting["status"], waiting["agent"]) == ("queued", None)

    alice = await host.agent(await host.add_agent("alice", teams=("support", "vip")))
    await alice.expect("assigned")
    reloaded = (await host.visitor(visitor.token)).frames[0]  # type: ignore[attr-defined]
    assert (reloaded["conversation_id"], reloaded["status"], reloaded["agent"], reloaded["team"]) == (
        cid, "assigned", "alice", "support")

    await alice.send({"type": "close", "conversation_id": cid})
    await visitor.expect("closed")
    assert (await host.visitor(visitor.token)).frames[0]["agent"] is None  # type: ignore[attr-defined]


async def test_a_full_writer_answers_store_busy_and_the_resend_is_stored_once(
    start_host: Callable[..., Any], db_url: str
) -> None:
    """The writer's chat lane holds two writes: with one batch stuck on a lock and two queued, the next send is
    refused with ``store_busy`` and ``retry_after`` (not acked, not stored); the queued ones are acked once the lock
    goes, and the refused one, resent with its ``client_msg_id``, is stored once, in its place in the seqs."""
    host = await start_host(db_url=db_url, environ={
        "KEFU_DATABASE__CHAT_QUEUE_LIMIT": "2", "KEFU_DATABASE__BUSY_RETRY_AFTER": "2.5",
        "KEFU_DATABASE__SQLITE_BUSY_TIMEOUT": "120",
    })
    writer = host.app[STORE].writer
    visitors = [await host.visitor() for _ in range(4)]
    for n, visitor in enumerate(visitors):
        await visitor.say(f"hello {n}")  # each has its conversation now
    async with asyncio.timeout(20):  # and was routed (queued: no agent), which writes after the ack
        while await decisions(host) < 4 or writer.in_flight() or writer.pending():
            await asyncio.sleep(0.01)
    async with holding_writes(db_url, "messages"):
        await visitors[0].send({"type": "send", "client_msg_id": "m0", "body": "stuck"})
        await until(lambda: writer.in_flight() == 1 and writer.pending() == 0)
        for n in (1, 2):
            await visitors[n].send({"type": "send", "client_msg_id": f"m{n}", "body": "queued"})
        await until(lambda: writer.pending() == 2)
        await visitors[3].send({"type": "send", "client_msg_id": "m3", "body": "refused"})
        refused = await visitors[3].expect("error", ref="m3")
        assert refused["code"] == "store_busy" and refused["retry_after"] == 2.5
    acks = [await visitors[n].expect("ack", client_msg_id=f"m{n}") for n in range(3)]
    resent = await visitors[3].say("refused", "m3")
    assert not resent["duplicate"] and resent["seq"] == 2
    assert [a["seq"] for a in acks] == [2, 2, 2] and not any(a["duplicate"] for a in acks)
    async with host.app[STORE].read() as conn:
        rows = (await conn.execute(select(Message.conversation_id, Message.seq, Message.client_msg_id))).all()
    assert sorted(r.client_msg_id for r in rows if r.seq == 2) == ["m0", "m1", "m2", "m3"]
    for cid in {r.conversation_id for r in rows}:
        assert sorted(r.seq for r in rows if r.conversation_id == cid) == [1, 2]


async def decisions(host: Any) -> int:
    async with host.app[STORE].read() as conn:
        return int((await conn.execute(select(func.count()).select_from(RoutingDecision))).scalar_one())
