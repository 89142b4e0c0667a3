"""Persistence: engines, the group-commit writer, migrations and the models."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from kefu_host.store.engine import Engines, create_engines, ensure_sqlite_dir
from kefu_host.store.migrate import upgrade
from kefu_host.store.writer import GroupWriter, StoreUnavailable

__all__ = ["Store", "StoreUnavailable", "open_store"]


@dataclass(frozen=True)
class Store:
    """Reads go to ``engines.read``; every write goes through ``writer`` (group commit)."""

    engines: Engines
    writer: GroupWriter

    @property
    def dialect(self) -> str:
        return self.engines.dialect

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads (a snapshot per statement; wrap several reads in ``conn.begin()`` for one)."""
        async with self.engines.read.connect() as conn:
            yield conn

    async def ping(self) -> bool:
        try:
            async with self.read() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True


@contextlib.asynccontextmanager
async def open_store(
    url: str,
    *,
    migrate: bool = True,
    pool_size: int = 5,
    sqlite_synchronous: str = "full",
    sqlite_busy_timeout: float = 10.0,
    max_batch: int = 2000,
) -> AsyncIterator[Store]:
    """Open engines, migrate if asked, start the writer; on exit drain the writer and close everything."""
    ensure_sqlite_dir(url)
    engines = create_engines(
        url, pool_size=pool_size, sqlite_synchronous=sqlite_synchronous, busy_timeout=sqlite_busy_timeout
    )
    try:
        if migrate:
            await upgrade(engines.write)
        writer = GroupWriter(engines.write, max_batch=max_batch)
        writer.start()
        try:
            yield Store(engines=engines, writer=writer)
        finally:
            await writer.close()
    finally:
        await engines.dispose()
