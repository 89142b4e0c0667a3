"""Holding the database's write lock from a second connection, so that the host's writer blocks on it."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable

import asyncpg

from kefu_host.store.engine import sqlite_path


@contextlib.asynccontextmanager
async def holding_writes(url: str, *tables: str) -> AsyncIterator[None]:
    """Until the block ends, nobody else writes: on SQLite the whole file (``BEGIN IMMEDIATE``), on PostgreSQL
    ``tables`` (``LOCK TABLE ... IN EXCLUSIVE MODE``: reads go on, inserts and updates wait)."""
    path = sqlite_path(url)
    if path is not None:
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            db.execute("ROLLBACK")
            db.close()
        return
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute(f"LOCK TABLE {', '.join(tables)} IN EXCLUSIVE MODE")
        yield
        await transaction.rollback()
    finally:
        await conn.close()


async def until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    """Wait for ``check()`` to hold (a state of the writer), looking once per loop turn or so."""
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.005)


async def lock_waiters(url: str) -> int:
    """How many other backends of this PostgreSQL database wait for a lock now."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        return int(await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ))
    finally:
        await conn.close()
