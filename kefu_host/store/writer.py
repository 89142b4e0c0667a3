"""Group commit: one task owns every write and commits whatever is waiting in one transaction.

A transaction per row costs a commit (an fsync on SQLite) per row, a few hundred rows a second. Here callers
``await writer.submit(kind, item)``; the writer takes everything queued (up to ``max_batch``), lets each
:class:`BatchKind` apply its items with as few statements as it can (``executemany``), commits once, and only then
resolves the callers' futures: nothing is acknowledged before it is durable. Under light load a batch is one item
and latency is one commit; under heavy load batches grow while the previous commit runs.

If a kind raises while applying a batch, the batch is rolled back and each item is retried in a transaction of its
own, so one bad item fails alone. A kind may also return an exception for a single item; that caller gets it and
the rest of the batch commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import structlog
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kefu_host.metrics import MetricsOff
from kefu_host.tracing import TRACING_OFF, Tracing

T = TypeVar("T")
R = TypeVar("R")
T_contra = TypeVar("T_contra", contravariant=True)
log = structlog.get_logger("kefu_host.store")


class StoreUnavailable(Exception):
    """The store cannot take writes now (closed, overloaded, or the database failed); the caller may retry."""


class BatchKind(Protocol[T_contra]):
    """Applies many items of one kind inside the writer's open transaction."""

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


@dataclass(slots=True)
class _Job(Generic[T]):
    kind: BatchKind[T]
    item: T
    future: asyncio.Future[Any]
    #: the caller's store span, when its trace is recorded; told the batch it was committed in
    span: Any = None


@dataclass
class WriterStats:
    batches: int = 0
    items: int = 0
    largest_batch: int = 0
    failed_batches: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


class _Transaction:
    """Arbitrary write functions, each in a savepoint so a failing one leaves the others in the batch intact."""

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


_TRANSACTION = _Transaction()


class GroupWriter:
    """The single writer. Start it once, ``submit`` from anywhere in the loop, ``close`` to drain and stop."""

    def __init__(self, engine: AsyncEngine, *, max_batch: int = 2000, max_pending: int = 50_000) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.max_pending = max_pending
        self.stats = WriterStats()
        # A deque and a wake-up future rather than an asyncio.Queue: the queue's bookkeeping cost every write a
        # handful of Python calls going in and out.
        self._jobs: deque[_Job[Any]] = deque()
        self._wakeup: asyncio.Future[None] | None = None  # set while the writer waits for work
        self._committing = False
        self._drained: asyncio.Future[None] | None = None  # set while close() waits for the queue to empty
        self._task: asyncio.Task[None] | None = None
        self._event_loop: asyncio.AbstractEventLoop  # set by start()
        self._closing = False
        #: the writer keeps one connection: checking one out of the pool per batch costs round trips
        self._conn: AsyncConnection | None = None
        self._driver: Any = None  # its aiosqlite connection, on SQLite
        self.metrics = MetricsOff()
        self.tracing = TRACING_OFF

    def observe(self, metrics: MetricsOff, tracing: Tracing) -> None:
        """Count batches into ``metrics``; give each write of a traced request a span."""
        self.metrics, self.tracing = metrics, tracing

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._event_loop = asyncio.get_running_loop()  # asking for it per submit costs a getpid() each time
        self._task = self._event_loop.create_task(self._loop(), name="kefu-group-writer")

    async def close(self) -> None:
        """Stop taking work, commit what is queued, then stop."""
        self._closing = True
        if self._task is None:
            return
        if (self._jobs or self._committing) and not self._task.done():
            self._drained = self._event_loop.create_future()
            self._wake()
            await self._drained
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._drop_connection()

    async def submit(self, kind: BatchKind[T], item: T) -> Any:
        """Queue ``item`` and wait until it is committed; returns the kind's result for it."""
        if self._closing or not self.running:
            raise StoreUnavailable("the store is not accepting writes")
        if len(self._jobs) >= self.max_pending:
            raise StoreUnavailable(f"the store is overloaded ({self.max_pending} writes waiting)")
        future: asyncio.Future[Any] = self._event_loop.create_future()
        span = self.tracing.start_child(f"store {kind.name}") if self.tracing.tracer is not None else None
        self._jobs.append(_Job(kind, item, future, span))
        if self._wakeup is not None:
            self._wake()
        if span is None:
            # a caller that goes away cancels only its wait: the write stays queued and the writer skips the answer
            return await future
        try:
            return await future
        except BaseException as exc:
            span.record_exception(exc)
            raise
        finally:
            span.end()

    async def transaction(self, fn: Callable[[AsyncConnection], Awaitable[R]]) -> R:
        """Run ``fn(conn)`` inside the next batch, in a savepoint of its own; return its result or raise its error."""
        return await self.submit(_TRANSACTION, fn)  # type: ignore[no-any-return]

    def _wake(self) -> None:
        wakeup, self._wakeup = self._wakeup, None
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    async def _loop(self) -> None:
        queue = self._jobs
        while True:
            if not queue:
                if self._drained is not None and not self._drained.done():
                    self._drained.set_result(None)
                self._wakeup = self._event_loop.create_future()
                await self._wakeup
                continue
            jobs = [queue.popleft() for _ in range(min(len(queue), self.max_batch))]
            self._committing = True
            try:
                await self._commit(jobs)
            except Exception as exc:  # never let the writer die: fail these jobs and keep going
                log.exception("group commit failed", items=len(jobs))
                _fail(jobs, StoreUnavailable(f"database write failed: {exc}"))
            finally:
                self._committing = False

    async def _commit(self, jobs: list[_Job[Any]]) -> None:
        groups = _by_kind(jobs)
        start = time.perf_counter()
        try:
            results = await self._apply(jobs, groups)
        except Exception as exc:
            self.stats.failed_batches += 1
            self.metrics.store_batch_failed()
            if len(jobs) == 1:
                _fail(jobs, _classify(exc))
                log.error("write failed", kind=jobs[0].kind.name, error=f"{type(exc).__name__}: {exc}")
                return
            for job in jobs:  # isolate the item that broke the batch
                await self._commit([job])
            return
        seconds = time.perf_counter() - start
        self.metrics.store_batch(len(jobs), seconds)
        if self.tracing.enabled:
            _tell_spans(jobs, seconds)
        self._after_commit(jobs, groups, results)
        self.stats.batches += 1
        self.stats.items += len(jobs)
        self.stats.largest_batch = max(self.stats.largest_batch, len(jobs))
        kinds = self.stats.kinds
        for indexes in groups:
            name = jobs[indexes[0]].kind.name
            kinds[name] = kinds.get(name, 0) + len(indexes)
        for job, result in zip(jobs, results, strict=True):
            if job.future.done():
                continue
            if isinstance(result, BaseException):
                _set_exception(job.future, result)
            else:
                job.future.set_result(result)

    @staticmethod
    def _after_commit(jobs: list[_Job[Any]], groups: list[list[int]], results: list[Any]) -> None:
        for indexes in groups:
            committed = getattr(jobs[indexes[0]].kind, "committed", None)
            if committed is None:
                continue
            try:
                committed([jobs[i].item for i in indexes], [results[i] for i in indexes])
            except Exception:  # the write is durable; a failing observer must not turn it into an error
                log.exception("after-commit callback failed", kind=jobs[indexes[0]].kind.name)

    async def _apply(self, jobs: list[_Job[Any]], groups: list[list[int]]) -> list[Any]:
        """Apply every job in one transaction, grouped by kind (``groups``: :func:`_by_kind`); results come back in
        job order."""
        results: list[Any] = [None] * len(jobs)
        if self._conn is None:
            self._conn = await self.engine.connect()
            if self._conn.dialect.name == "sqlite":
                self._driver = (await self._conn.get_raw_connection()).driver_connection  # aiosqlite.Connection
        work = [(jobs[indexes[0]].kind, [jobs[i].item for i in indexes]) for indexes in groups]
        try:
            if self._driver is not None and all(hasattr(kind, "apply_sqlite") for kind, _ in work):
                driver = self._driver
                outs = await driver._execute(_sqlite_batch, driver._conn, work)  # on the driver's one thread
            else:
                async with self._conn.begin():
                    outs = [await kind.apply(self._conn, items) for kind, items in work]
        except Exception:
            await self._drop_connection()  # the next batch starts on a fresh connection
            raise
        for indexes, (kind, _), out in zip(groups, work, outs, strict=True):
            if len(out) != len(indexes):
                raise RuntimeError(f"batch kind {kind.name} returned {len(out)} results for {len(indexes)}")
            for i, value in zip(indexes, out, strict=True):
                results[i] = value
        return results

    async def _drop_connection(self) -> None:
        conn, self._conn, self._driver = self._conn, None, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()


def _sqlite_batch(db: sqlite3.Connection, work: list[tuple[Any, list[Any]]]) -> list[Sequence[Any]]:
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


def _tell_spans(jobs: Sequence[_Job[Any]], seconds: float) -> None:
    for job in jobs:
        if job.span is not None:
            job.span.set_attributes({"kefu.batch_size": len(jobs), "kefu.commit_seconds": seconds})


def _by_kind(jobs: Sequence[_Job[Any]]) -> list[list[int]]:
    """Job indexes grouped by kind, kinds in order of first appearance, jobs in submission order."""
    groups: dict[int, list[int]] = {}
    for n, job in enumerate(jobs):
        groups.setdefault(id(job.kind), []).append(n)
    return list(groups.values())


def _classify(exc: Exception) -> Exception:
    """Database outages become :class:`StoreUnavailable` (retry later); anything else is the item's own error."""
    if isinstance(exc, StoreUnavailable):
        return exc
    if isinstance(exc, OperationalError | InterfaceError | OSError | ConnectionError | sqlite3.OperationalError):
        return StoreUnavailable(f"database unavailable: {exc}")
    return exc


def _set_exception(future: asyncio.Future[Any], exc: BaseException) -> None:
    """Fail a caller's wait. Marked as seen at once: a caller that went away must not turn a write's failure into
    an "exception was never retrieved" report (one that waits still gets it raised)."""
    future.set_exception(exc)
    future.exception()


def _fail(jobs: Sequence[_Job[Any]], exc: BaseException) -> None:
    for job in jobs:
        if not job.future.done():
            _set_exception(job.future, exc)
