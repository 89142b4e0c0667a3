"""The visitor socket: one message rate per customer, however many tabs they open."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from kefu_host.keys import CHAT


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
