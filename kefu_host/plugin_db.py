"""A database of a plugin's own (the ticket plugin's DSN, say): a URL resolved like the host's, an engine tuned
like the host's, and a timestamp type every dialect agrees on. For plugins: ``from kefu_host.plugin_db import ...``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import DateTime, MetaData
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.types import TypeDecorator, TypeEngine

from kefu_host.store.engine import tune_sqlite
from kefu_host.store.models import utcnow

__all__ = [
    "DRIVERS",
    "PluginStore",
    "UtcDateTime",
    "check_dsn",
    "open_engine",
    "open_store",
    "resolve_url",
    "utcnow",
]


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out.

    SQLite and MySQL drop the time zone and MySQL's DATETIME drops microseconds unless asked; ordering by these
    values needs them whole, so they are stored as naive UTC with microseconds everywhere.
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


#: The asyncio drivers a plugin database may use, with the package each one needs.
DRIVERS: Mapping[str, str] = {
    "sqlite+aiosqlite": "aiosqlite",
    "mysql+aiomysql": "aiomysql",
    "mariadb+aiomysql": "aiomysql",
    "postgresql+asyncpg": "asyncpg",
}


def check_dsn(setting: str, dsn: Any, example: str) -> URL:
    """A usable database URL from the setting ``setting``, or ValueError saying what is wrong with it."""
    if not isinstance(dsn, str) or not dsn:
        raise ValueError(f"{setting}: expected a SQLAlchemy URL string, got {dsn!r}")
    try:
        url = make_url(dsn)
    except ArgumentError as exc:
        raise ValueError(f"{setting}: not a database URL: {exc}") from None
    package = DRIVERS.get(url.drivername)
    if package is None:
        raise ValueError(
            f"{setting}: driver {url.drivername!r} is not supported; use one of {', '.join(DRIVERS)} "
            "(the plugin needs an asyncio driver)"
        )
    if importlib.util.find_spec(package) is None:
        raise ValueError(f"{setting}: {url.drivername} needs the {package!r} package (pip install {package})")
    if url.drivername.startswith("sqlite") and not url.database:
        raise ValueError(f"{setting}: a SQLite URL needs a file, like {example}")
    return url


def resolve_url(dsn: str, base_dir: Path) -> URL:
    """The URL with a relative SQLite file resolved against ``base_dir`` (where the host's config is)."""
    url = make_url(dsn)
    if url.drivername.startswith("sqlite") and url.database and url.database != ":memory:":
        path = Path(url.database)
        if not path.is_absolute():
            url = url.set(database=str((base_dir / path).resolve()))
    return url


def open_engine(url: URL) -> AsyncEngine:
    """An engine for ``url``: SQLite as the host runs it (WAL, busy timeout, BEGIN IMMEDIATE), servers with
    pre-ping and recycling (a MySQL server drops idle connections after its wait_timeout). Like the host's, it keeps
    statement parameters (ticket texts, customer data) out of error messages and logs."""
    if not url.drivername.startswith("sqlite"):
        return create_async_engine(url, pool_pre_ping=True, pool_recycle=1800, hide_parameters=True)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)  # a fresh checkout has no data/ yet
    engine = create_async_engine(url, hide_parameters=True)
    tune_sqlite(engine, begin="BEGIN IMMEDIATE", synchronous="full", busy_timeout=10.0)
    return engine


class PluginStore:
    """Base for a plugin's store: its own tables (``metadata``) on its own engine."""

    metadata: MetaData

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create_tables(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(self.metadata.create_all)

    async def close(self) -> None:
        await self.engine.dispose()


S = TypeVar("S", bound=PluginStore)


async def open_store(store_class: type[S], url: URL) -> S:
    """A plugin store on ``url`` with its tables created; nothing is left open when that fails."""
    store = store_class(open_engine(url))
    try:
        await store.create_tables()
    except BaseException:
        await store.close()
        raise
    return store
