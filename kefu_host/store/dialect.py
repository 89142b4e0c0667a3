"""The few statements SQLite and PostgreSQL spell differently."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import DeclarativeBase


async def insert_ignore(
    conn: AsyncConnection, model: type[DeclarativeBase], values: dict[str, Any], conflict: Sequence[str]
) -> bool:
    """INSERT unless a row with the same ``conflict`` columns exists; True when this call inserted it."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(model).values(**values).on_conflict_do_nothing(index_elements=list(conflict))
    result = await conn.execute(stmt)
    return bool(result.rowcount)
