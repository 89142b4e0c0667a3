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


async def insert_unless_conflict(
    conn: AsyncConnection, model: type[DeclarativeBase], values: dict[str, Any], conflict: Sequence[str],
    where: Any = None,
) -> int | None:
    """INSERT unless it conflicts on the unique index over ``conflict`` (partial: its predicate is ``where``); the new
    row's id, or None when a row already held that place (a concurrent writer's, say)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = (dialect.insert(model).values(**values)
            .on_conflict_do_nothing(index_elements=list(conflict), index_where=where)
            .returning(model.id))  # type: ignore[attr-defined]
    new_id = (await conn.execute(stmt)).scalar()
    return None if new_id is None else int(new_id)
