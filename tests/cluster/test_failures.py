"""A node killed outright and a Redis restart, under bounded load: no acked message is lost, clients resume on the
nodes left, and every message reaches the other side."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from kefu_host.testing.clients import AgentClient, VisitorClient
from tests.cluster.conftest import Cluster, stop_cluster
from tests.cluster.test_three_nodes import acked, db, seqs_seen, wait_for

pytestmark = pytest.mark.redis
VISITORS = 6
#: messages each visitor sends in each phase, one at a time, each resent on its new socket until acked
PER_PHASE = 8


class Side:
    """One visitor or agent across its sockets: every frame any of them received, and where it is now."""

    def __init__(self, client: VisitorClient | AgentClient, node: str) -> None:
        self.client, self.node = client, node
        self.frames: list[dict[str, Any]] = []

    def retire(self) -> None:
        self.frames += self.client.frames


async def send_until_acked(cluster: Cluster, side: Side, uid: str, cid: int, body: str, cmid: str) -> dict[str, Any]:
    """Send; if the socket dies, reconnect through the balancer (resuming after what was seen) and resend the
    same client_msg_id until it is acked."""
    while True:
        try:
            await side.client.send({"type": "send", "client_msg_id": cmid, "body": body})
            return await wait_for(side.client, acked(cmid), timeout=8)
        except (ConnectionError, AssertionError, OSError) as exc:
            if side.client.ws.closed or isinstance(exc, ConnectionError):
                side.retire()
                seen = seqs_seen(side.frames, cid)
                side.client, side.node = await cluster.visitor(uid, last_seq=max(seen, default=0))
            else:
                raise


async def test_a_killed_node_and_a_redis_restart_lose_nothing(start_cluster: Callable[..., Any], pg_url: str) -> None:
    cluster, tokens = await start_cluster({"ann": VISITORS, "bob": VISITORS},
                                          # every visitor sends as fast as it is acked: on a fast machine
                                          # that outruns the default burst, which is not what this tests
                                          env={"KEFU_CHAT__AGENT_GRACE_PERIOD": "120",
                                               "KEFU_CHAT__VISITOR_BURST": "1000"})
    cluster: Cluster
    conn = await db(pg_url)
    agents = {name: Side(*await cluster.agent(token)) for name, token in tokens.items()}
    visitors: dict[str, Side] = {}
    conversations: dict[str, int] = {}
    for n in range(VISITORS):
        uid = f"w-{n}"
        visitors[uid] = Side(*await cluster.visitor(uid))
        ack = await visitors[uid].client.say(f"hello from {uid}")
        conversations[uid] = ack["conversation_id"]
        await visitors[uid].client.expect("agent_joined")
    holders = {r["id"]: r["name"] for r in await conn.fetch(
        "SELECT c.id, a.name FROM conversations c JOIN agents a ON a.id = c.agent_id WHERE c.status = 'assigned'")}
    assert sorted(holders) == sorted(conversations.values())
    acks: dict[str, dict[str, Any]] = {}

    async def phase(label: str, during: Callable[[], Any] | None = None, after: int = 3) -> None:
        """Every visitor sends PER_PHASE messages; ``during`` runs once ``after`` acks have come back."""
        done = asyncio.Event()
        count = 0

        async def one(uid: str) -> None:
            nonlocal count
            for k in range(PER_PHASE):
                cmid = f"{label}-{uid}-{k}"
                ack = await send_until_acked(cluster, visitors[uid], uid, conversations[uid], f"{label} {k}", cmid)
                acks[cmid] = ack
                count += 1
                if count == after and during is not None:
                    during()
                    done.set()

        await asyncio.gather(*(one(uid) for uid in visitors))
        if during is not None:
            assert done.is_set()

    await phase("calm")

    # SIGKILL the node holding the most sockets, while messages flow
    load = Counter(s.node for s in [*agents.values(), *visitors.values()])
    victim = load.most_common(1)[0][0]
    await phase("kill", during=lambda: cluster.kill(victim))
    assert any(v.frames for v in visitors.values() if v.node != victim)  # some visitors did move to survivors
    for name, side in agents.items():  # agents on the dead node reconnect elsewhere and resume
        if side.node == victim or side.client.ws.closed:
            side.retire()
            seen = {cid: max(seqs_seen(side.frames, cid), default=0) for cid, who in holders.items() if who == name}
            side.client, side.node = await cluster.agent(tokens[name], resume=seen)
            assert side.node != victim
    await phase("after-kill")

    # Redis goes away and comes back: what was published meanwhile is read from the database
    cluster.redis.stop()
    await phase("no-redis")
    await cluster.redis.start()
    await phase("redis-back")

    # every acked message is stored with the seq its ack gave
    for cmid, ack in acks.items():
        row = await conn.fetchrow("SELECT conversation_id, seq FROM messages WHERE client_msg_id = $1", cmid)
        assert row is not None and (row["conversation_id"], row["seq"]) == (ack["conversation_id"], ack["seq"]), cmid
    # and reached the agent holding the conversation, gap-free, whichever sockets and nodes that took
    for uid, cid in conversations.items():
        last = await conn.fetchval("SELECT last_seq FROM conversations WHERE id = $1", cid)
        agent = agents[holders[cid]]
        await wait_for(agent.client, lambda fs, c=cid, s=last: s in seqs_seen([*agent.frames, *fs], c), timeout=30)
        seen = sorted(set(seqs_seen([*agent.frames, *agent.client.frames], cid)))
        assert seen == list(range(seen[0], last + 1)), f"{holders[cid]} missed some of {cid}: {seen}"
        visitor = visitors[uid]
        mine = sorted(set(seqs_seen([*visitor.frames, *visitor.client.frames], cid)))
        assert mine == list(range(1, last + 1)), f"visitor {uid} missed some of {cid}: {mine}"
    # nobody holds more than capacity, nothing was re-queued (every agent came back within the grace period)
    assert await conn.fetchval("SELECT count(*) FROM conversations WHERE status = 'assigned'") == VISITORS
    await conn.close()
    await stop_cluster(cluster)

