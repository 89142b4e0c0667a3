"""Persistence: engines, the group-commit writer, migrations and the models."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from kefu_host.store.checkpoint import WalCheckpointer
from kefu_host.store.engine import Engines, create_engines, ensure_sqlite_dir, sqlite_path
from kefu_host.store.migrate import upgrade
from kefu_host.store.writer import GroupWriter, StoreBusy, StoreUnavailable

__all__ = ["Store", "StoreBusy", "StoreUnavailable", "open_store"]


@dataclass(frozen=True)
class Store:
    """Reads go to ``engines.read``; every write goes through ``writer`` (group commit)."""

    engines: Engines
    writer: GroupWriter
    #: Runs SQLite's WAL checkpoints off the commit path; None on PostgreSQL and in-memory SQLite.
    checkpointer: WalCheckpointer | None = None

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
    sqlite_checkpoint_interval: float = 0.2,
    max_batch: int = 2000,
    chat_queue_limit: int = 10_000,
    events_queue_limit: int = 20_000,
    retry_after: float = 1.0,
) -> AsyncIterator[Store]:
    """Open engines, migrate if asked, start the writer; on exit drain the writer and close everything.

    On a SQLite file with ``sqlite_checkpoint_interval`` > 0, WAL checkpoints run in a thread of their own instead
    of inside commits (see :mod:`kefu_host.store.checkpoint`). The queue limits bound the writer's lanes
    (:class:`~kefu_host.store.writer.GroupWriter`); ``retry_after`` is what a refused write is told.
    """
    ensure_sqlite_dir(url)
    path = sqlite_path(url)
    checkpointer = (
        WalCheckpointer(path, interval=sqlite_checkpoint_interval, busy_timeout=sqlite_busy_timeout)
        if path is not None and sqlite_checkpoint_interval > 0
        else None
    )
    engines = create_engines(
        url,
        pool_size=pool_size,
        sqlite_synchronous=sqlite_synchronous,
        busy_timeout=sqlite_busy_timeout,
        sqlite_autocheckpoint=checkpointer is None,
    )
    try:
        if migrate:
            await upgrade(engines.write)
        writer = GroupWriter(engines.write, max_batch=max_batch, chat_pending=chat_queue_limit,
                             events_pending=events_queue_limit, retry_after=retry_after)
        writer.start()
        if checkpointer is not None:
            checkpointer.start()
        try:
            yield Store(engines=engines, writer=writer, checkpointer=checkpointer)
        finally:
            await writer.close()
            if checkpointer is not None:
                await asyncio.to_thread(checkpointer.close)
    finally:
        await engines.dispose()
