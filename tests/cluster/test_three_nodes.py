"""Three host processes behind a round-robin load balancer: what one process guarantees holds across them."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest

from kefu_host.testing.clients import AgentClient, ProtocolClient, VisitorClient
from tests.cluster.conftest import Cluster, stop_cluster

pytestmark = pytest.mark.redis
SEED = 4013
Frame = dict[str, Any]


async def wait_for(client: ProtocolClient, match: Callable[[list[Frame]], Any], timeout: float = 20.0) -> Any:
    """Read frames until ``match(all frames so far)`` is truthy; returns its value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (found := match(client.frames)):
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise AssertionError(f"nothing matched; last frames {client.frames[-5:]}")
        try:
            await client.receive(left)
        except TimeoutError:
            continue
    return found


def acked(cmid: str) -> Callable[[list[Frame]], Frame | None]:
    return lambda frames: next((f for f in frames if f["type"] == "ack" and f["client_msg_id"] == cmid), None)


def has(kind: str, **fields: Any) -> Callable[[list[Frame]], Frame | None]:
    return lambda frames: next(
        (f for f in reversed(frames) if f["type"] == kind and all(f.get(k) == v for k, v in fields.items())), None)


def seqs_seen(frames: list[Frame], cid: int) -> list[int]:
    """Every seq a client was given for a conversation: messages, acks, and an assignment's transcript."""
    out = []
    for f in frames:
        if f["type"] in ("message", "ack") and f.get("conversation_id") == cid:
            out.append(f["seq"])
        elif f["type"] == "assigned" and f["conversation"]["id"] == cid:
            out += [m["seq"] for m in f["messages"]]
    return out


async def db(pg_url: str) -> asyncpg.Connection:
    return await asyncpg.connect(pg_url.replace("postgresql+asyncpg", "postgresql"))


async def check_capacity(conn: asyncpg.Connection) -> None:
    rows = await conn.fetch(
        "SELECT a.name, a.load, a.capacity, (SELECT count(*) FROM conversations c WHERE c.agent_id = a.id "
        "AND c.status = 'assigned') AS held FROM agents a")
    for r in rows:
        assert r["held"] <= r["capacity"], f"seed {SEED}: {dict(r)}"
        assert r["load"] == r["held"], f"seed {SEED}: load drifted: {dict(r)}"


async def queue_positions(conn: asyncpg.Connection) -> dict[int, int]:
    rows = await conn.fetch("SELECT id FROM conversations WHERE status = 'queued' AND team = 'support' "
                            "ORDER BY priority DESC, queued_at, id")
    return {r["id"]: n for n, r in enumerate(rows, start=1)}


async def test_three_nodes_behind_a_load_balancer(start_cluster: Callable[..., Any], pg_url: str) -> None:
    rng = random.Random(SEED)
    cluster, tokens = await start_cluster({"ann": 2, "bob": 2, "cat": 1})
    cluster: Cluster
    conn = await db(pg_url)
    agents: dict[str, AgentClient] = {}
    agent_nodes: dict[str, str] = {}
    for name, token in tokens.items():
        agents[name], agent_nodes[name] = await cluster.agent(token)
    assert len(set(agent_nodes.values())) == 3, agent_nodes  # round robin: one agent per node

    visitors: dict[int, VisitorClient] = {}  # conversation id -> its visitor
    visitor_nodes: dict[int, str] = {}
    holder: dict[int, str] = {}  # conversation id -> agent name, for assigned ones
    closed: set[int] = set()
    sent: Counter[str] = Counter()
    cross_node_chats = 0

    async def settle() -> None:
        """Capacity holds in SQL; every waiting visitor was told its right place."""
        await check_capacity(conn)
        positions = await queue_positions(conn)
        for cid, place in positions.items():
            await wait_for(visitors[cid], lambda fs, c=cid, p=place: next(
                (f for f in reversed(fs) if f["type"] in ("queue", "agent_joined") and f["conversation_id"] == c),
                {}).get("position") == p)

    async def assigned_to(cid: int) -> str:
        row = await conn.fetchrow("SELECT a.name FROM conversations c JOIN agents a ON a.id = c.agent_id "
                                  "WHERE c.id = $1 AND c.status = 'assigned'", cid)
        return row["name"] if row else ""

    async def open_one(n: int) -> None:
        nonlocal cross_node_chats
        visitor, node = await cluster.visitor(f"v-{n}")
        cmid = visitor.new_id()
        await visitor.send({"type": "send", "client_msg_id": cmid, "body": f"hello {n}"})
        sent[cmid] += 1
        ack = await wait_for(visitor, acked(cmid))
        cid = ack["conversation_id"]
        visitors[cid], visitor_nodes[cid] = visitor, node
        await wait_for(visitor, lambda fs: any(f["type"] in ("queue", "agent_joined") for f in fs))
        name = await assigned_to(cid)
        if name:
            holder[cid] = name
            await wait_for(agents[name], has("assigned"))
            cross_node_chats += agent_nodes[name] != node

    async def chat(cid: int) -> None:
        name = holder[cid]
        agent, visitor = agents[name], visitors[cid]
        await wait_for(agent, lambda fs: cid in [f["conversation"]["id"] for f in fs if f["type"] == "assigned"])
        cmid = agent.new_id()
        await agent.send({"type": "send", "conversation_id": cid, "client_msg_id": cmid, "body": "how can I help"})
        sent[cmid] += 1
        seq = (await wait_for(agent, acked(cmid)))["seq"]
        await wait_for(visitor, has("message", conversation_id=cid, seq=seq))
        cmid = visitor.new_id()
        await visitor.send({"type": "send", "client_msg_id": cmid, "body": "my order"})
        sent[cmid] += 1
        seq = (await wait_for(visitor, acked(cmid)))["seq"]
        await wait_for(agent, has("message", conversation_id=cid, seq=seq))

    async def close(cid: int) -> None:
        name = holder.pop(cid)
        await agents[name].send({"type": "close", "conversation_id": cid})
        await wait_for(visitors[cid], has("closed", conversation_id=cid))
        closed.add(cid)
        for other in [c for c in visitors if c not in holder and c not in closed]:
            name = await assigned_to(other)  # a waiting one may have got the freed seat
            if name:
                holder[other] = name

    n = 0
    for _ in range(4):  # a first wave: five seats, some wait
        n += 1
        await open_one(n)
        await settle()
    for step in range(24):  # the seeded random run
        choice = rng.random()
        if choice < 0.35 and n < 14:
            n += 1
            await open_one(n)
        elif choice < 0.7 and holder:
            await chat(rng.choice(sorted(holder)))
        elif holder:
            await close(rng.choice(sorted(holder)))
        await settle()
    assert cross_node_chats >= 1  # visitors and their agents on different nodes did chat

    # a profile event posted to any node reaches the agent's socket, wherever that is
    for cid in sorted(holder)[:3]:
        uid = f"v-{list(visitors).index(cid) + 1}"
        row = await conn.fetchrow("SELECT cu.uid FROM conversations c JOIN customers cu ON cu.id = c.customer_id "
                                  "WHERE c.id = $1", cid)
        uid = row["uid"]
        await cluster.event("user.profile_updated", {"uid": uid, "name": f"Name of {uid}"})
        update = await wait_for(agents[holder[cid]], has("profile_update", conversation_id=cid))
        assert update["customer"]["name"] == f"Name of {uid}"

    for cid in sorted(holder):  # every conversation ends once
        await close(cid)
        await settle()
    for cid in list(visitors):
        if cid not in closed and await assigned_to(cid):
            holder[cid] = await assigned_to(cid)
            await close(cid)

    # no seq given twice or skipped, on either side; one ack per send
    for cid, visitor in visitors.items():
        seen = seqs_seen(visitor.frames, cid)
        assert seen == list(range(1, len(seen) + 1)), f"seed {SEED}: visitor of {cid} saw {seen}"
    for name, agent in agents.items():
        for cid in {f["conversation"]["id"] for f in agent.frames if f["type"] == "assigned"}:
            seen = seqs_seen(agent.frames, cid)
            assert seen == list(range(seen[0], seen[0] + len(seen))), f"seed {SEED}: {name} saw {seen} of {cid}"
    for client in [*agents.values(), *visitors.values()]:
        acks = Counter(f["client_msg_id"] for f in client.frames if f["type"] == "ack")
        assert all(count == 1 for count in acks.values()), acks
    assert set(sent) == {cmid for c in [*agents.values(), *visitors.values()]
                         for f in c.frames if f["type"] == "ack" for cmid in [f["client_msg_id"]]}

    # one close, and one conversation.closed webhook, per closed conversation
    rows = await conn.fetch("SELECT id FROM conversations WHERE status = 'closed'")
    assert {r["id"] for r in rows} == closed
    for cid in closed:
        assert [f["type"] for f in visitors[cid].frames].count("closed") == 1
    deadline = asyncio.get_running_loop().time() + 30
    while cluster.sink.closed() != Counter(closed) and asyncio.get_running_loop().time() < deadline:  # type: ignore[attr-defined]
        await asyncio.sleep(0.1)  # the sink is outside the product: polled for what it has been sent
    assert cluster.sink.closed() == Counter(closed)  # type: ignore[attr-defined]
    await conn.close()
    await stop_cluster(cluster)
