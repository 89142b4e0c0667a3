"""What the group-commit writer works with: the batch kinds it applies (its own :class:`Transaction` among them),
running a batch on SQLite's thread, and the errors a write may meet (:func:`classify` sorts a batch's failure).

See :mod:`kefu_host.store.writer` for how batches are formed and committed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from kefu_host.store import pg

T_contra = TypeVar("T_contra", contravariant=True)


class StoreUnavailable(Exception):
    """The store cannot take writes now (closed, overloaded, or the database failed); the caller may retry."""


class StoreBusy(StoreUnavailable):
    """A writer lane is full: nothing was queued. Retry the same write (same ids) after ``retry_after`` seconds."""

    def __init__(self, lane: str, limit: int, retry_after: float) -> None:
        super().__init__(f"the store is busy ({limit} {lane} writes waiting); retry in {retry_after:g} s")
        self.lane, self.limit, self.retry_after = lane, limit, retry_after


class Conflict(Exception):
    """A batch met a write committed by another process after its snapshot (a unique key taken meanwhile)."""


class BatchKind(Protocol[T_contra]):
    """Applies many items of one kind inside the writer's open transaction.

    Optional attributes: ``lane`` (``"chat"``, the default, or ``"events"``); ``apply_sqlite(db, items)`` (see
    :class:`SqliteBatchKind`); ``apply_pg(db, items)`` and ``pg_one_statement(items)`` (see :mod:`.pg`);
    ``committed`` (see :class:`AfterCommit`).
    """

    name: str

    async def apply(self, conn: AsyncConnection, items: Sequence[T_contra]) -> Sequence[Any]:
        """One result per item, in order; an ``Exception`` instance fails just that item (without side effects)."""
        ...


class SqliteBatchKind(Protocol[T_contra]):
    """A kind that can also apply its items with the plain ``sqlite3`` connection, on the driver's own thread.

    When every kind in a batch can, the writer runs the whole batch (BEGIN IMMEDIATE, every kind, COMMIT) as one
    call on that thread: one hop instead of one per statement, and none of SQLAlchemy's per-statement work.
    """

    def apply_sqlite(self, db: sqlite3.Connection, items: Sequence[T_contra]) -> Sequence[Any]: ...


class AfterCommit(Protocol):
    """A batch kind may also define ``committed``: called once the batch is durable, before callers resume.

    It runs synchronously in commit order, which makes it the place to publish what was written: subscribers then
    see writes in exactly the order they were committed.
    """

    def committed(self, items: Sequence[Any], results: Sequence[Any]) -> None: ...


class Transaction:
    """The kind of ``GroupWriter.transaction``: arbitrary write functions, each in a savepoint so a failing one leaves the others in the batch intact."""

    name = "transaction"

    async def apply(
        self, conn: AsyncConnection, items: Sequence[Callable[[AsyncConnection], Awaitable[Any]]]
    ) -> list[Any]:
        results: list[Any] = []
        for fn in items:
            try:
                async with conn.begin_nested():
                    results.append(await fn(conn))
            except Exception as exc:  # the function's own error: it belongs to its caller
                results.append(exc)
        return results


TRANSACTION = Transaction()


def sqlite_batch(db: sqlite3.Connection, work: list[tuple[Any, list[Any]]]) -> list[Sequence[Any]]:
    """One batch as one transaction, run on the SQLite driver's thread."""
    db.execute("BEGIN IMMEDIATE")
    try:
        outs = [kind.apply_sqlite(db, items) for kind, items in work]
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return outs


def classify(exc: Exception) -> Exception:
    """Database outages become :class:`StoreUnavailable` (retry later); anything else is the item's own error."""
    if isinstance(exc, StoreUnavailable):
        return exc
    if isinstance(exc, Conflict):
        return StoreUnavailable(f"concurrent writes kept conflicting: {exc}")
    if isinstance(exc, OperationalError | InterfaceError | OSError | ConnectionError | sqlite3.OperationalError):
        return StoreUnavailable(f"database unavailable: {exc}")
    if pg.is_outage(exc):
        return StoreUnavailable(f"database unavailable: {exc}")
    return exc
