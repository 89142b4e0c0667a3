"""Idle closing with three nodes sweeping: each idle conversation is closed once, reported once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from tests.cluster.conftest import Cluster, stop_cluster
from tests.cluster.test_three_nodes import db, wait_for

pytestmark = pytest.mark.redis


async def test_three_sweeping_nodes_close_each_idle_conversation_once(
    start_cluster: Callable[..., Any], pg_url: str
) -> None:
    cluster, tokens = await start_cluster({"ann": 3, "bob": 3}, env={"KEFU_CHAT__IDLE_CLOSE_AFTER": "2"})
    cluster: Cluster
    conn = await db(pg_url)
    agents = [(await cluster.agent(token))[0] for token in tokens.values()]
    visitors = []
    for n in range(6):
        visitor, _ = await cluster.visitor(f"i-{n}")
        await visitor.say("anyone there?")
        await visitor.expect("agent_joined", timeout=30)
        visitors.append(visitor)
    for visitor in visitors:  # nobody writes again: every conversation goes idle and is closed
        closed = await visitor.expect("closed", timeout=30)
        assert closed["closed_by"] == "idle"
    rows = await conn.fetch("SELECT id, closed_by FROM conversations")
    assert [r["closed_by"] for r in rows] == ["idle"] * 6
    ids = Counter(r["id"] for r in rows)
    for visitor in visitors:  # one closed frame each, however many nodes swept
        assert [f["type"] for f in await visitor.drain(0.5)].count("closed") == 0
    deadline = asyncio.get_running_loop().time() + 30
    while cluster.sink.closed() != ids and asyncio.get_running_loop().time() < deadline:  # type: ignore[attr-defined]
        await asyncio.sleep(0.1)  # the sink is outside the product: polled for what it has been sent
    assert cluster.sink.closed() == ids  # type: ignore[attr-defined]
    held = {r["id"]: r["agent_id"] for r in await conn.fetch("SELECT id, agent_id FROM conversations")}
    ids_of = {r["name"]: r["id"] for r in await conn.fetch("SELECT id, name FROM agents")}
    for name, agent in zip(tokens, agents, strict=True):  # each agent hears of each close of its own once
        mine = {cid for cid, a in held.items() if a == ids_of[name]}
        await wait_for(agent, lambda fs, m=mine: {f["conversation_id"] for f in fs if f["type"] == "closed"} >= m)
        await agent.drain(0.5)
    closes = Counter(f["conversation_id"] for a in agents for f in a.frames if f["type"] == "closed")
    assert closes == ids
    await conn.close()
    await stop_cluster(cluster)
