"""PostgreSQL batches on the writer's asyncpg connection, without SQLAlchemy in between.

A batch kind with ``apply_pg(db, items)`` runs its statements (``INSERT ... SELECT FROM unnest($1::...[], ...)``:
one statement for any number of rows, its text the same for every batch so asyncpg prepares it once) on ``db``,
which is either the raw ``asyncpg.Connection`` or, when the batch also holds kinds that need SQLAlchemy,
:class:`ViaSqlAlchemy` over the writer's open transaction. Both offer ``fetch(sql, *args)`` and ``execute(sql,
*args)``.

A batch of one kind whose ``pg_one_statement(items)`` is true runs without BEGIN and COMMIT: a single statement is
atomic on its own, so the batch costs one round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

try:
    import asyncpg
except ImportError:  # pragma: no cover - asyncpg is a dependency; SQLite-only use works without it
    asyncpg = None


class ViaSqlAlchemy:
    """``fetch``/``execute`` in the writer's SQLAlchemy transaction (numeric ``$n`` parameters pass through)."""

    __slots__ = ("conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def fetch(self, sql: str, *args: Any) -> Sequence[Sequence[Any]]:
        return (await self.conn.exec_driver_sql(sql, args)).all()

    async def execute(self, sql: str, *args: Any) -> None:
        await self.conn.exec_driver_sql(sql, args)


async def run_batch(db: Any, work: Sequence[tuple[Any, list[Any]]]) -> list[Sequence[Any]]:
    """Every kind's items in one transaction on the asyncpg connection ``db``; a lone one-statement kind in none."""
    if len(work) == 1:
        kind, items = work[0]
        one = getattr(kind, "pg_one_statement", None)
        if one is not None and one(items):
            return [await kind.apply_pg(db, items)]
    async with db.transaction():
        return [await kind.apply_pg(db, items) for kind, items in work]


def unique_violation(exc: BaseException) -> str | None:
    """The constraint a unique violation names (raw asyncpg, or wrapped by SQLAlchemy); None for other errors."""
    if asyncpg is None:
        return None
    orig = getattr(exc, "orig", None)
    for candidate in (exc, orig, getattr(orig, "__cause__", None)):
        if isinstance(candidate, asyncpg.UniqueViolationError):
            return candidate.constraint_name or ""
    return None


def must_retry(exc: BaseException) -> bool:
    """A deadlock or serialization failure (raw asyncpg, or wrapped by SQLAlchemy): the database rolled the
    transaction back, and running it again is the answer. Locks taken in a fixed order keep this rare."""
    if asyncpg is None:
        return False
    for candidate in (exc, getattr(exc, "orig", None), getattr(getattr(exc, "orig", None), "__cause__", None)):
        if isinstance(candidate, asyncpg.DeadlockDetectedError | asyncpg.SerializationError):
            return True
    return False


def is_outage(exc: BaseException) -> bool:
    """An asyncpg error that means the database is unreachable or going away, not that the write was wrong."""
    if asyncpg is None:
        return False
    return isinstance(
        exc,
        asyncpg.PostgresConnectionError | asyncpg.InterfaceError | asyncpg.CannotConnectNowError
        | asyncpg.OperatorInterventionError | asyncpg.InsufficientResourcesError,
    )
