"""LISTEN on a real PostgreSQL: notifications arrive, and a killed connection comes back (and says so)."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg

from kefu_host.routing.notify import asyncpg_dsn, listen


def test_the_dsn_keeps_everything_but_the_driver() -> None:
    assert asyncpg_dsn("postgresql+asyncpg://kefu:s3cret@db.internal:5433/kefu?ssl=require") == (
        "postgresql://kefu:s3cret@db.internal:5433/kefu?ssl=require")


async def test_notifications_arrive_and_a_killed_connection_reconnects(pg_url: str) -> None:
    dsn = asyncpg_dsn(pg_url)
    payloads: asyncio.Queue[str] = asyncio.Queue()
    connects: asyncio.Queue[None] = asyncio.Queue()
    task = asyncio.create_task(listen(dsn, "kefu_test", payloads.put_nowait, lambda: connects.put_nowait(None)))
    admin = await asyncpg.connect(dsn)
    try:
        await asyncio.wait_for(connects.get(), 30)
        await admin.execute("SELECT pg_notify('kefu_test', 'one')")
        assert await asyncio.wait_for(payloads.get(), 30) == "one"
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query LIKE 'LISTEN%'")  # not other tests' databases
        assert killed == 1
        await asyncio.wait_for(connects.get(), 30)
        await admin.execute("SELECT pg_notify('kefu_test', 'two')")
        assert await asyncio.wait_for(payloads.get(), 30) == "two"
    finally:
        await admin.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
