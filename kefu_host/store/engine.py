"""Database engines: one for reads, one for the group-commit writer.

SQLite runs in WAL mode (readers never block the writer) with a busy timeout and foreign keys on. pysqlite's own
transaction handling is switched off so that SQLAlchemy's BEGIN is what SQLite sees: the writer takes the write
lock up front (``BEGIN IMMEDIATE``) and savepoints work. PostgreSQL needs none of this.

Every engine hides statement parameters from its errors and logs (``hide_parameters``): they are message bodies
and customer profiles, and an error text travels to logs and monitoring.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


@dataclass(frozen=True)
class Engines:
    read: AsyncEngine
    write: AsyncEngine

    @property
    def dialect(self) -> str:
        return self.read.dialect.name

    async def dispose(self) -> None:
        await self.write.dispose()
        if self.read is not self.write:
            await self.read.dispose()


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sqlite_path(url: str) -> str | None:
    """The database file of a ``sqlite+aiosqlite:///FILE`` URL; None for an in-memory database or another kind."""
    if not is_sqlite(url) or ":memory:" in url or "///" not in url:
        return None
    return url.split("///", 1)[1].split("?", 1)[0] or None


def ensure_sqlite_dir(url: str) -> None:
    """Create the directory of a SQLite database file, so a fresh checkout starts without setup."""
    path = sqlite_path(url)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def create_engines(
    url: str,
    *,
    pool_size: int = 5,
    sqlite_synchronous: str = "full",
    busy_timeout: float = 10.0,
    sqlite_autocheckpoint: bool = True,
) -> Engines:
    """Engines for ``url``; on SQLite the writer has a single connection of its own. ``sqlite_autocheckpoint``
    False keeps commits from checkpointing (someone else must: see :mod:`kefu_host.store.checkpoint`)."""
    if not is_sqlite(url):
        engine = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
                                     hide_parameters=True)
        return Engines(read=engine, write=engine)
    read = create_async_engine(url, pool_size=pool_size, max_overflow=0, hide_parameters=True)
    write = create_async_engine(url, pool_size=1, max_overflow=0, hide_parameters=True)
    options = {"synchronous": sqlite_synchronous, "busy_timeout": busy_timeout, "autocheckpoint": sqlite_autocheckpoint}
    tune_sqlite(read, begin="BEGIN", **options)  # type: ignore[arg-type]
    tune_sqlite(write, begin="BEGIN IMMEDIATE", **options)  # type: ignore[arg-type]
    return Engines(read=read, write=write)


def tune_sqlite(
    engine: AsyncEngine, *, begin: str, synchronous: str, busy_timeout: float, autocheckpoint: bool = True
) -> None:
    """WAL, a busy timeout, foreign keys on, and ``begin`` as the statement that opens every transaction."""
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None  # let the "begin" listener below own transactions
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            f"busy_timeout={int(busy_timeout * 1000)}",
            "foreign_keys=ON",
            f"synchronous={synchronous.upper()}",
            f"wal_autocheckpoint={1000 if autocheckpoint else 0}",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)
