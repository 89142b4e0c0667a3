"""Assignments and transfers while the writer's chat lane is full: each is either refused with ``store_busy`` before
anything is decided, or, once decided, written whatever the lane holds. None is left half done (decided in the
dispatcher or in PostgreSQL but not recorded, nobody told)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from kefu_host.keys import CHAT, STORE
from kefu_host.testing.clients import AgentClient, VisitorClient
from kefu_host.testing.host import TestHost
from tests.chat.test_queues import store_setup  # noqa: F401 (the fixture: SQLite, PostgreSQL, a cluster node)
from tests.chat.test_visitor_ws import decisions
from tests.store.locks import holding_writes, until

BUSY = {"KEFU_DATABASE__CHAT_QUEUE_LIMIT": "2", "KEFU_DATABASE__BUSY_RETRY_AFTER": "2.5",
        "KEFU_DATABASE__SQLITE_BUSY_TIMEOUT": "120"}


async def settled(host: TestHost, routed: int) -> None:
    """``routed`` messages were routed and the writer has nothing left to do."""
    writer = host.app[STORE].writer
    async with asyncio.timeout(20):
        while await decisions(host) < routed or writer.in_flight() or writer.pending():
            await asyncio.sleep(0.01)


async def _noop(conn: AsyncConnection) -> None:
    """A write that changes nothing: it only takes its place in the lane."""


@contextlib.asynccontextmanager
async def full_lane(host: TestHost, db_url: str, stuck: VisitorClient) -> AsyncIterator[None]:
    """The chat lane full until the block ends: a batch with ``stuck``'s message in it stuck on the database's
    lock, and writes waiting up to the lane's bound (whatever else the host writes meanwhile: a rule heartbeat may
    take a place too); ``stuck`` gets its ack once the lock is let go."""
    writer = host.app[STORE].writer
    limit = host.config.database.chat_queue_limit
    fillers: list[asyncio.Task[None]] = []
    # no batch running: on SQLite the lock is taken on this thread, and a batch holding it would wait for this loop
    await until(lambda: not writer.in_flight() and not writer.pending())
    async with holding_writes(db_url, "messages"):
        await stuck.send({"type": "send", "client_msg_id": "stuck", "body": "stuck"})
        await until(lambda: writer.in_flight() >= 1)
        while writer.pending() < limit:
            fillers.append(asyncio.create_task(writer.transaction(_noop)))
            await asyncio.sleep(0)  # it takes its place (or is refused, when another write took it first)
        yield
    await stuck.expect("ack", client_msg_id="stuck")
    await asyncio.gather(*fillers, return_exceptions=True)


def agent_id(agent: AgentClient) -> int:
    return int(next(f for f in agent.frames if f["type"] == "welcome")["agent"]["id"])


async def alice_full(start_host: Callable[..., Any], db_url: str, environ: dict[str, str]
                     ) -> tuple[TestHost, AgentClient, int, list[VisitorClient], int]:
    """A host where alice (capacity 1) holds the first of four visitors' chats and the other three wait."""
    host = await start_host(db_url=db_url, environ={**BUSY, **environ})
    alice = await host.agent(await host.add_agent("alice", teams=("support",), capacity=1))
    visitors = [await host.visitor() for _ in range(4)]
    cid = (await visitors[0].say("hello"))["conversation_id"]
    assert (await alice.expect("assigned"))["conversation"]["id"] == cid
    for n, visitor in enumerate(visitors[1:]):
        await visitor.say(f"hello {n}")  # queued: alice is full
    await settled(host, 4)
    return host, alice, agent_id(alice), visitors, cid


async def test_a_transfer_while_the_writer_is_full_answers_store_busy_and_leaves_the_chat_with_its_agent(
    start_host: Callable[..., Any], store_setup: tuple[str, dict[str, str]]  # noqa: F811
) -> None:
    """The seat is released before the transfer is written: refused after that, the chat would be the agent's in
    the store and nobody's in the dispatcher. Refused before, the agent keeps it, and the transfer sent again
    works."""
    db_url, environ = store_setup
    host, alice, alice_id, visitors, cid = await alice_full(start_host, db_url, environ)
    service = host.app[CHAT].service
    async with full_lane(host, db_url, visitors[1]):
        await alice.send({"type": "transfer", "conversation_id": cid, "team": "vip"})
        refused = await alice.expect("error")
        assert (refused["code"], refused["retry_after"]) == ("store_busy", 2.5)
        assert await service.owns(alice_id, cid)
    row = await service.repo.conversation(cid)
    assert (row.status, row.agent_id, row.team) == ("assigned", alice_id, "support")
    assert await service.owns(alice_id, cid)

    await alice.send({"type": "transfer", "conversation_id": cid, "team": "vip"})
    assert (await alice.expect("unassigned"))["conversation_id"] == cid
    row = await service.repo.conversation(cid)
    assert (row.status, row.agent_id, row.team) == ("queued", None, "vip")
    # the seat it freed goes to the first chat waiting in alice's team
    assert (await alice.expect("assigned"))["conversation"]["id"] != cid


async def test_an_agent_coming_online_while_the_writer_is_full_is_given_the_waiting_chat_and_told(
    start_host: Callable[..., Any], store_setup: tuple[str, dict[str, str]]  # noqa: F811
) -> None:
    """Coming online hands the agent the first waiting chat (in the dispatcher, or committed in PostgreSQL) before
    its assignment is written: that write is not refused by the full lane, so the chat ends up the agent's in the
    store and the agent and the visitor hear of it once the lane moves."""
    db_url, environ = store_setup
    host = await start_host(db_url=db_url, environ={**BUSY, **environ})
    token = await host.add_agent("alice", teams=("support",), capacity=1)
    visitors = [await host.visitor() for _ in range(4)]
    cids = [(await visitor.say(f"hello {n}"))["conversation_id"] for n, visitor in enumerate(visitors)]
    await settled(host, 4)  # all queued: nobody is online
    service, writer = host.app[CHAT].service, host.app[STORE].writer
    async with full_lane(host, db_url, visitors[1]):
        alice = await host.agent(token)
        alice_id = agent_id(alice)
        async with asyncio.timeout(20):  # the seats gave alice the chat...
            while not await service.owns(alice_id, cids[0]):
                await asyncio.sleep(0.01)
        limit = host.config.database.chat_queue_limit
        await until(lambda: writer.pending() > limit)  # ...and its write waits past the lane's bound, not refused
    assert (await alice.expect("assigned"))["conversation"]["id"] == cids[0]
    assert (await visitors[0].expect("agent_joined"))["agent"] == "alice"
    row = await service.repo.conversation(cids[0])
    assert (row.status, row.agent_id) == ("assigned", alice_id)
    assert await service.owns(alice_id, cids[0])
    await alice.send({"type": "ping"})
    await alice.expect("pong")  # the socket lived through it


async def test_a_close_while_the_writer_is_full_answers_store_busy_and_the_chat_stays_open_with_its_agent(
    start_host: Callable[..., Any], store_setup: tuple[str, dict[str, str]]  # noqa: F811
) -> None:
    """On one process the seat is freed before the close is written: refused after that, the agent would hold an
    open chat the dispatcher counts as free (and be handed one more). Refused before, nothing changes."""
    db_url, environ = store_setup
    host, alice, alice_id, visitors, cid = await alice_full(start_host, db_url, environ)
    service = host.app[CHAT].service
    async with full_lane(host, db_url, visitors[1]):
        await alice.send({"type": "close", "conversation_id": cid})
        refused = await alice.expect("error")
        assert (refused["code"], refused["retry_after"]) == ("store_busy", 2.5)
    row = await service.repo.conversation(cid)
    assert (row.status, row.agent_id) == ("assigned", alice_id)
    assert await service.owns(alice_id, cid)

    await alice.send({"type": "close", "conversation_id": cid})
    assert (await visitors[0].expect("closed"))["closed_by"] == "agent"
    assert (await alice.expect("assigned"))["conversation"]["id"] != cid  # the freed seat is filled
    assert (await service.repo.conversation(cid)).status == "closed"
