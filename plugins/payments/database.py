"""The plugin's own database: an engine for the configured URL, a timestamp type every dialect agrees on."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, event
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.types import TypeDecorator, TypeEngine


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out.

    SQLite and MySQL drop the time zone and MySQL's DATETIME drops microseconds unless asked; the order of
    status changes compares these values, so they are stored as naive UTC with microseconds everywhere.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware one")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


def utcnow() -> datetime:
    return datetime.now(UTC)


def resolve_url(dsn: str, base_dir: Path) -> URL:
    """The URL with a relative SQLite file resolved against ``base_dir`` (where the host's config is)."""
    url = make_url(dsn)
    if url.drivername.startswith("sqlite") and url.database and url.database != ":memory:":
        path = Path(url.database)
        if not path.is_absolute():
            url = url.set(database=str((base_dir / path).resolve()))
    return url


def open_engine(url: URL) -> AsyncEngine:
    if not url.drivername.startswith("sqlite"):
        # pre-ping: a MySQL server drops idle connections (wait_timeout); recycle before it does
        return create_async_engine(url, pool_pre_ping=True, pool_recycle=1800)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)  # a fresh checkout has no data/ yet
    engine = create_async_engine(url)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's BEGIN (below) is what SQLite sees
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # take the write lock up front: a read-then-write transaction cannot then fail to upgrade its lock
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
