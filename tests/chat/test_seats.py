"""Seats in the database: the load an agent carries is counted by the database and held to its capacity there."""

from __future__ import annotations

import asyncpg
import pytest

from kefu_host.chat.accounts import AccountError, add_agent, ensure_teams, set_agent
from kefu_host.chat.seats import team_lock
from kefu_host.store import open_store


async def test_the_database_refuses_an_agent_more_conversations_than_its_capacity(pg_url: str) -> None:
    async with open_store(pg_url) as store:
        await ensure_teams(store, ["support"])
        await add_agent(store, "ann", ["support"], 1)
    conn = await asyncpg.connect(pg_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await conn.execute("INSERT INTO customers (id, vip_level, ltv_cents, tags, attributes, field_times, "
                           "created_at, updated_at) VALUES (1, 0, 0, '[]', '{}', '{}', now(), now())")
        for cid in (1, 2):
            await conn.execute(
                "INSERT INTO conversations (id, customer_id, visitor_id, status, team, priority, channel, last_seq, "
                "transfers, tags, created_at, updated_at) VALUES ($1, 1, 'v', 'queued', 'support', 50, 'web', 0, 0, "
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
