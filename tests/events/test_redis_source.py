"""Events from a Redis Stream (a real Redis): at-least-once with a consumer group, effects exactly once."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import redis
from redis import asyncio as aioredis
from sqlalchemy import select

from kefu_host.keys import STORE
from kefu_host.store.models import Customer
from kefu_host.testing.events import envelope
from tests.store.locks import holding_writes, until

STREAM = "kefu:test-events"


def source_toml(url: str, claim_idle: float = 0.3) -> str:
    return f'\n[events.redis]\nurl = "{url}"\nstream = "{STREAM}"\nclaim_idle = {claim_idle}\n'


async def wait_for(predicate: Callable[[], Any], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


async def ltv(host: Any, uid: str) -> int | None:
    async with host.app[STORE].read() as conn:
        row = (await conn.execute(select(Customer.ltv_cents).where(Customer.uid == uid))).one_or_none()
    return row[0] if row else None


async def test_stream_entries_are_applied_and_acknowledged(start_host: Callable[..., Any], redis_url: str) -> None:
    host = await start_host(source_toml(redis_url))
    client = aioredis.from_url(redis_url)
    try:
        paid = envelope("order.paid", {"uid": "r1", "order_id": "o1", "amount": 30, "currency": "CNY"})
        await client.xadd(STREAM, {"event": orjson.dumps(paid)})
        await client.xadd(STREAM, {"event": orjson.dumps(paid)})  # published twice by the broker: counted once
        await client.xadd(STREAM, {"event": b"{not json"})
        await client.xadd(STREAM, {"event": orjson.dumps(envelope("order.paid", {"uid": "r1"}))})

        async def settled() -> bool:
            pending = await client.xpending(STREAM, "kefu-host")
            return pending["pending"] == 0 and await client.xlen(f"{STREAM}:dead") == 2

        await wait_for(settled)
        assert await ltv(host, "r1") == 3000
        dead = await client.xrange(f"{STREAM}:dead")
        reasons = [fields[b"reason"].decode() for _, fields in dead]
        assert reasons[0].startswith("invalid: 'event' field is not JSON")
        assert reasons[1] == "invalid: data.order_id: 'order_id' is a required property"
    finally:
        await client.aclose()


async def test_an_entry_a_dead_consumer_read_is_taken_over(start_host: Callable[..., Any], redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.xgroup_create(STREAM, "kefu-host", id="0", mkstream=True)
    login = envelope("order.paid", {"uid": "r2", "order_id": "o2", "amount": 5, "currency": "CNY"})
    client.xadd(STREAM, {"event": orjson.dumps(login)})
    assert client.xreadgroup("kefu-host", "crashed-consumer", {STREAM: ">"}, count=10)  # read, never acknowledged
    client.close()
    host = await start_host(source_toml(redis_url, claim_idle=0.2))

    async def applied() -> bool:
        return await ltv(host, "r2") == 500

    await wait_for(applied)
    checker = aioredis.from_url(redis_url)
    try:
        await wait_for(lambda: _no_pending(checker))
    finally:
        await checker.aclose()


async def _no_pending(client: aioredis.Redis) -> bool:
    return (await client.xpending(STREAM, "kefu-host"))["pending"] == 0


KILLER = """
import os
from kefu_host import hookimpl

@hookimpl
def kefu_event_received(event, customer):
    os._exit(17)  # dies after the event is committed, before the stream entry is acknowledged
"""


def test_a_consumer_killed_before_ack_leaves_the_entry_for_redelivery_without_a_second_effect(
    write_config: Callable[..., Path], tmp_path: Path, redis_url: str
) -> None:
    cfg = write_config(source_toml(redis_url, claim_idle=0.3))
    (tmp_path / "killer.py").write_text(textwrap.dedent(KILLER))
    client = redis.Redis.from_url(redis_url)
    paid = envelope("order.paid", {"uid": "r3", "order_id": "o3", "amount": 7, "currency": "CNY"})
    client.xadd(STREAM, {"event": orjson.dumps(paid)})

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    killed = subprocess.run([sys.executable, "-m", "kefu_host", "--config", str(cfg), "--plugin",
                             str(tmp_path / "killer.py")], capture_output=True, text=True, timeout=60, env=env)
    assert killed.returncode == 17
    assert _ltv_in_file(tmp_path / "kefu.db", "r3") == 700  # committed before the crash
    assert client.xpending(STREAM, "kefu-host")["pending"] == 1  # but never acknowledged

    survivor = subprocess.Popen([sys.executable, "-m", "kefu_host", "--config", str(cfg)], stderr=subprocess.PIPE,
                                text=True, env=env)
    try:
        # a hang guard, not a timing check: the survivor's start-up under a loaded CI core is part of the wait
        deadline = time.monotonic() + 90
        while client.xpending(STREAM, "kefu-host")["pending"]:
            assert survivor.poll() is None, f"the survivor exited: {survivor.stderr.read() if survivor.stderr else ''}"
            assert time.monotonic() < deadline, "the entry was not taken over"
            time.sleep(0.1)
    finally:
        survivor.terminate()
        survivor.wait(15)
        client.close()
    assert _ltv_in_file(tmp_path / "kefu.db", "r3") == 700  # the redelivery was a duplicate: counted once


def _ltv_in_file(path: Path, uid: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT ltv_cents FROM customers WHERE uid = ?", (uid,)).fetchone()[0])
    finally:
        conn.close()


async def test_a_busy_store_slows_the_stream_down_without_dead_letters(
    start_host: Callable[..., Any], redis_url: str, tmp_path: Path
) -> None:
    """With the writer's events lane full, the consumer waits and tries the entry again: a full store is no failed
    delivery (``max_deliveries = 1`` would dead-letter it at the first), and the entry is applied once it drains."""
    url = f"sqlite+aiosqlite:///{tmp_path}/busy.db"
    host = await start_host(source_toml(redis_url) + "max_deliveries = 1\n", db_url=url, environ={
        "KEFU_DATABASE__EVENTS_QUEUE_LIMIT": "1", "KEFU_DATABASE__BUSY_RETRY_AFTER": "0.2",
        "KEFU_DATABASE__SQLITE_BUSY_TIMEOUT": "120",
    })
    writer = host.app[STORE].writer
    client = aioredis.from_url(redis_url)
    try:
        async with holding_writes(url):
            stuck = asyncio.create_task(host.post(envelope("user.login", {"uid": "h0"})))
            await until(lambda: writer.in_flight("events") == 1)
            queued = asyncio.create_task(host.post(envelope("user.login", {"uid": "h1"})))
            await until(lambda: writer.pending("events") == 1)
            paid = envelope("order.paid", {"uid": "r1", "order_id": "o1", "amount": 30, "currency": "CNY"})
            await client.xadd(STREAM, {"event": orjson.dumps(paid)})
            await until(lambda: writer.stats.refused >= 2)  # refused, waited, refused again
            assert await client.xlen(f"{STREAM}:dead") == 0

        async def settled() -> bool:
            return (await client.xpending(STREAM, "kefu-host"))["pending"] == 0 and await ltv(host, "r1") == 3000

        await wait_for(settled)
        assert [(await t).status for t in (stuck, queued)] == [200, 200]
        assert await client.xlen(f"{STREAM}:dead") == 0
    finally:
        await client.aclose()
