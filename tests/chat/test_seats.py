"""Seats in the database: the load an agent carries is counted by the database and held to its capacity there."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from kefu_host.chat.accounts import AccountError, add_agent, ensure_teams, set_agent
from kefu_host.chat.assignment import Assignment, Dispatcher
from kefu_host.chat.claims import claim_requeue
from kefu_host.chat.seats import SqlSeats, team_lock
from kefu_host.store import open_store
from kefu_host.store.models import utcnow
from kefu_host.webhooks.outbox import Outbox


async def test_the_database_refuses_an_agent_more_conversations_than_its_capacity(pg_url: str) -> None:
    async with open_store(pg_url) as store:
        await ensure_teams(store, ["support"])
        await add_agent(store, "ann", ["support"], 1)
    conn = await asyncpg.connect(pg_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        for cid in (1, 2):  # two customers: each has one open conversation
            await conn.execute("INSERT INTO customers (id, vip_level, ltv_cents, tags, attributes, field_times, "
                               "created_at, updated_at) VALUES ($1, 0, 0, '[]', '{}', '{}', now(), now())", cid)
            await conn.execute(
                "INSERT INTO conversations (id, customer_id, visitor_id, status, team, priority, channel, last_seq, "
                "transfers, tags, created_at, updated_at) VALUES ($1, $1, 'v', 'queued', 'support', 50, 'web', 0, 0, "
                "'[]', now(), now())", cid)
        agent = await conn.fetchval("SELECT id FROM agents")
        await conn.execute("UPDATE conversations SET status = 'assigned', agent_id = $1 WHERE id = 1", agent)
        assert await conn.fetchval("SELECT load FROM agents") == 1  # the trigger counts
        with pytest.raises(asyncpg.CheckViolationError):  # whatever code asks, the second seat does not exist
            await conn.execute("UPDATE conversations SET status = 'assigned', agent_id = $1 WHERE id = 2", agent)
        await conn.execute("UPDATE conversations SET status = 'closed' WHERE id = 1")
        assert await conn.fetchval("SELECT load FROM agents") == 0
        await conn.execute("UPDATE conversations SET status = 'assigned', agent_id = $1 WHERE id = 2", agent)
        assert await conn.fetchval("SELECT load FROM agents") == 1
        await conn.execute("UPDATE agents SET capacity = 2")
        await conn.execute("UPDATE conversations SET status = 'assigned', agent_id = $1 WHERE id = 1", agent)
    finally:
        await conn.close()
    async with open_store(pg_url) as store:  # lowering the capacity under the load is refused in words
        with pytest.raises(AccountError, match="holds 2 conversations"):
            await set_agent(store, "ann", capacity=1)
        await set_agent(store, "ann", capacity=2)


def test_every_node_locks_the_same_key_for_a_team() -> None:
    assert team_lock("support") == team_lock("support") != team_lock("vip")
    assert 0 <= team_lock("support") < 2**31


# --- taking a waiting conversation, with two nodes on one database ------------------------------------------------
#
# Each node has engines (a connection pool) and a SqlSeats of its own: two ``open_store`` calls on one database stand
# for two host processes. Races are made to happen, not hoped for: a third connection holds the lock both takes need
# until the database shows both of them waiting for it.


def _plain(pg_url: str) -> str:
    return pg_url.replace("postgresql+asyncpg", "postgresql")


async def _queued(conn: asyncpg.Connection, team: str, customer: int) -> int:
    """A conversation waiting in ``team``'s queue (a customer of its own: one open conversation per customer)."""
    await conn.execute("INSERT INTO customers (id, vip_level, ltv_cents, tags, attributes, field_times, created_at, "
                       "updated_at) VALUES ($1, 0, 0, '[]', '{}', '{}', now(), now())", customer)
    cid: int = await conn.fetchval(
        "INSERT INTO conversations (customer_id, visitor_id, status, team, priority, channel, last_seq, transfers, "
        "tags, created_at, updated_at, queued_at) VALUES ($1, 'v', 'queued', $2, 50, 'web', 0, 0, '[]', now(), "
        "now(), now()) RETURNING id", customer, team)
    return cid


async def _both_waiting(conn: asyncpg.Connection) -> None:
    """Until two sessions of this database wait for a lock (each node's take is then inside its transaction; the
    second may wait behind the first rather than for the blocker itself)."""
    for _ in range(1000):
        waiting = await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                      "AND wait_event_type = 'Lock'")
        if waiting >= 2:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the two takes never waited for the lock")


async def _rows(conn: asyncpg.Connection) -> tuple[dict[str, tuple[int, int]], dict[int, tuple[str, str | None]]]:
    """(agent name -> (load, conversations assigned to it counted in SQL), conversation -> (status, agent name))."""
    agents = {r["name"]: (r["load"], r["held"]) for r in await conn.fetch(
        "SELECT a.name, a.load, (SELECT count(*) FROM conversations c WHERE c.agent_id = a.id "
        "AND c.status = 'assigned') AS held FROM agents a")}
    conversations = {r["id"]: (r["status"], r["name"]) for r in await conn.fetch(
        "SELECT c.id, c.status, a.name FROM conversations c LEFT JOIN agents a ON a.id = c.agent_id")}
    return agents, conversations


async def _agent_id(conn: asyncpg.Connection, name: str) -> int:
    agent: int = await conn.fetchval("SELECT id FROM agents WHERE name = $1", name)
    return agent


async def test_an_agent_at_capacity_cannot_take_and_the_conversation_keeps_waiting(pg_url: str) -> None:
    async with open_store(pg_url) as store:
        await ensure_teams(store, ["support"])
        await add_agent(store, "ann", ["support"], 1)
        conn = await asyncpg.connect(_plain(pg_url))
        try:
            first, second = await _queued(conn, "support", 1), await _queued(conn, "support", 2)
            ann = await _agent_id(conn, "ann")
            seats = SqlSeats(store, session_ttl=5)
            assert await seats.take(first, ann, "support") == Assignment(first, ann, "support")
            assert await seats.take(second, ann, "support") is None
            assert await _rows(conn) == ({"ann": (1, 1)}, {first: ("assigned", "ann"), second: ("queued", None)})
            assert await seats.position(second) == ("support", 1)  # still first in line, for whoever frees up
        finally:
            await conn.close()


async def test_two_nodes_taking_the_same_conversation_give_it_to_exactly_one_agent(pg_url: str) -> None:
    async with open_store(pg_url) as node_a, open_store(pg_url) as node_b:
        await ensure_teams(node_a, ["support"])
        await add_agent(node_a, "ann", ["support"], 1)
        await add_agent(node_b, "bob", ["support"], 1)
        conn, blocker = await asyncpg.connect(_plain(pg_url)), await asyncpg.connect(_plain(pg_url))
        try:
            cid = await _queued(conn, "support", 1)
            ann, bob = await _agent_id(conn, "ann"), await _agent_id(conn, "bob")
            tr = blocker.transaction()
            await tr.start()
            await blocker.execute("SELECT pg_advisory_xact_lock($1)", team_lock("support"))
            takes = asyncio.gather(SqlSeats(node_a, 5).take(cid, ann, "support"),
                                   SqlSeats(node_b, 5).take(cid, bob, "support"))
            await _both_waiting(conn)
            await tr.rollback()
            got = await takes
            winners = [a for a in got if a is not None]
            assert len(winners) == 1 and got.count(None) == 1  # the loser hears "not any more", not an error
            winner = "ann" if winners[0].agent_id == ann else "bob"
            loser = "bob" if winner == "ann" else "ann"
            assert winners[0] == Assignment(cid, ann if winner == "ann" else bob, "support")
            assert await _rows(conn) == ({winner: (1, 1), loser: (0, 0)}, {cid: ("assigned", winner)})
            assert await SqlSeats(node_a, 5).position(cid) is None  # what tells the loser's node it was taken
        finally:
            await conn.close()
            await blocker.close()


async def test_one_agent_taking_on_two_nodes_at_once_stays_within_capacity(pg_url: str) -> None:
    async with open_store(pg_url) as node_a, open_store(pg_url) as node_b:
        await ensure_teams(node_a, ["sales", "support"])
        await add_agent(node_a, "ann", ["sales", "support"], 1)
        conn, blocker = await asyncpg.connect(_plain(pg_url)), await asyncpg.connect(_plain(pg_url))
        try:
            # two teams: two different team locks, so only the agent's own row keeps the two takes apart
            sale, ticket = await _queued(conn, "sales", 1), await _queued(conn, "support", 2)
            ann = await _agent_id(conn, "ann")
            tr = blocker.transaction()
            await tr.start()
            await blocker.execute("SELECT id FROM agents WHERE id = $1 FOR UPDATE", ann)
            takes = asyncio.gather(SqlSeats(node_a, 5).take(sale, ann, "sales"),
                                   SqlSeats(node_b, 5).take(ticket, ann, "support"))
            await _both_waiting(conn)
            await tr.rollback()
            got = await takes
            assert got.count(None) == 1
            (won,) = [a for a in got if a is not None]
            lost = ticket if won.conversation_id == sale else sale
            agents, conversations = await _rows(conn)
            assert agents == {"ann": (1, 1)}
            assert conversations == {won.conversation_id: ("assigned", "ann"), lost: ("queued", None)}
        finally:
            await conn.close()
            await blocker.close()


async def test_a_take_of_a_conversation_moved_to_another_queue_meanwhile_leaves_it_there(pg_url: str) -> None:
    async with open_store(pg_url) as store:
        await ensure_teams(store, ["sales", "support"])
        await add_agent(store, "ann", ["sales", "support"], 2)
        conn = await asyncpg.connect(_plain(pg_url))
        try:
            cid = await _queued(conn, "sales", 1)  # ann saw it waiting in sales...
            await conn.execute("UPDATE conversations SET team = 'support' WHERE id = $1", cid)  # ...then it moved
            ann = await _agent_id(conn, "ann")
            assert await SqlSeats(store, 5).take(cid, ann, "sales") is None
            assert await conn.fetchrow("SELECT status, team, agent_id FROM conversations WHERE id = $1", cid) == (
                "queued", "support", None)
            assert await SqlSeats(store, 5).take(cid, ann, "support") == Assignment(cid, ann, "support")
        finally:
            await conn.close()


# --- the preferred agent, whenever a conversation leaves the queue ------------------------------------------------


async def _online(conn: asyncpg.Connection, name: str) -> None:
    await conn.execute("INSERT INTO agent_sessions (id, agent_id, node_id, wish, started_at, heartbeat_at) "
                       "SELECT $1::text, id, 'a', 'online', now(), now() FROM agents WHERE name = $1", name)


async def test_a_waiting_conversation_goes_to_its_preferred_agent_when_another_node_hands_out_the_queue(
    pg_url: str,
) -> None:
    """Handed out of the team's queue later by another node (its sweep), the preference of its placement still
    counts: bob, the preferred agent, gets it, though carl is as free and has waited longer."""
    async with open_store(pg_url) as node_a, open_store(pg_url) as node_b:
        await ensure_teams(node_a, ["support"])
        for name in ("bob", "carl"):
            await add_agent(node_a, name, ["support"], 1)
        conn = await asyncpg.connect(_plain(pg_url))
        try:
            cid = await _queued(conn, "support", 1)
            assert await SqlSeats(node_a, 5).place(cid, "support", 50, utcnow(), prefer="bob") is None  # none online
            await conn.execute("UPDATE agents SET last_assigned_at = now() WHERE name = 'bob'")  # carl idle longest
            await _online(conn, "bob")
            await _online(conn, "carl")
            [handed] = await SqlSeats(node_b, 5).drain_team("support")
            assert handed == Assignment(cid, await _agent_id(conn, "bob"), "support")
            # without a preference the same queue goes to the agent idle longest
            other = await _queued(conn, "support", 2)
            await conn.execute("UPDATE conversations SET status = 'closed' WHERE id = $1", cid)
            assert await SqlSeats(node_a, 5).place(other, "support", 50, utcnow()) == Assignment(
                other, await _agent_id(conn, "carl"), "support")
        finally:
            await conn.close()


async def test_a_conversation_requeued_after_its_agent_is_gone_goes_to_its_preferred_agent_first(pg_url: str) -> None:
    async with open_store(pg_url) as node_a, open_store(pg_url) as node_b:
        await ensure_teams(node_a, ["support"])
        for name, capacity in (("ann", 2), ("bob", 1), ("carl", 2)):
            await add_agent(node_a, name, ["support"], capacity)
        conn = await asyncpg.connect(_plain(pg_url))
        try:
            busy, cid = await _queued(conn, "support", 1), await _queued(conn, "support", 2)
            bob = await _agent_id(conn, "bob")
            await conn.execute("UPDATE conversations SET status = 'assigned', agent_id = $1 WHERE id = $2", bob, busy)
            await _online(conn, "ann")
            await _online(conn, "bob")
            seats = SqlSeats(node_a, 5)
            # bob is full: ann gets it on first placement
            assert await seats.place(cid, "support", 50, utcnow(), prefer="bob") == Assignment(
                cid, await _agent_id(conn, "ann"), "support")
            await conn.execute("UPDATE conversations SET status = 'closed' WHERE id = $1", busy)  # bob has room
            await conn.execute("UPDATE agents SET last_assigned_at = now() WHERE name = 'bob'")  # carl idle longest
            await _online(conn, "carl")
            await conn.execute("DELETE FROM agent_sessions WHERE agent_id = (SELECT id FROM agents WHERE name = 'ann')")
            await conn.execute("UPDATE agents SET last_seen_at = now() - interval '1 minute' WHERE name = 'ann'")
            [(requeued, _)] = await claim_requeue(node_b, Outbox(), utcnow(), grace=30)
            assert requeued.id == cid and requeued.status == "queued"
            assert await SqlSeats(node_b, 5).drain_team("support") == [Assignment(cid, bob, "support")]
        finally:
            await conn.close()


def test_one_process_offers_a_requeued_conversation_to_its_preferred_agent_first() -> None:
    """What the database does for several nodes, the one process's dispatcher does with the conversation's ticket."""
    dispatcher = Dispatcher()
    for agent_id, name, capacity in ((1, "ann", 2), (2, "bob", 1), (3, "carl", 2)):
        dispatcher.upsert_agent(agent_id, name, ["support"], capacity)
    dispatcher.set_presence(1, "online")
    dispatcher.set_presence(2, "online")
    assert dispatcher.place(10, "support", 50, utcnow()) == Assignment(10, 1, "support")
    assert dispatcher.place(11, "support", 50, utcnow()) == Assignment(11, 2, "support")  # bob: the less loaded
    assert dispatcher.place(12, "support", 50, utcnow(), prefer="bob") == Assignment(12, 1, "support")  # bob is full
    dispatcher.release(11)
    dispatcher.set_presence(3, "online")  # carl has room and has waited longest
    dispatcher.set_presence(1, "offline")
    assert dispatcher.requeue_agent(1) == [10, 12]
    assert dispatcher.drain_team("support") == [Assignment(10, 3, "support"), Assignment(12, 2, "support")]
