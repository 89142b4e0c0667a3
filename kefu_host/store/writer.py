"""Group commit: one task per connection owns the writes and commits whatever is waiting in one transaction.

A transaction per row costs a commit (an fsync on SQLite) per row, a few hundred rows a second. Here callers
``await writer.submit(kind, item)``; the writer takes what is queued, lets each :class:`BatchKind` apply its items
with as few statements as it can, commits once, and only then resolves the callers' futures: nothing is
acknowledged before it is durable. Under light load a batch is one item and latency is one commit; under heavy load
batches grow while the previous commit runs.

**Lanes.** Writes wait in one of two bounded lanes: ``events`` (business-event ingestion, the kinds whose ``lane``
is ``"events"``) and ``chat`` (messages and every other write, in submission order). A full lane refuses at once
with :class:`StoreBusy` instead of queueing without bound, so a sender learns to retry instead of waiting for
seconds. On PostgreSQL each lane has a connection and a task of its own, so a flood of events never delays a chat
commit; on SQLite (one writer connection) every batch takes up to ``max_batch`` from each lane, so neither starves.

If a kind raises while applying a batch, the batch is rolled back and each item is retried in a transaction of its
own, so one bad item fails alone. A kind may also return an exception for a single item; that caller gets it and
the rest of the batch commits. A kind that meets another process's concurrent write raises :class:`Conflict`: the
batch is run again, in a fresh transaction that sees that write (as it is after a deadlock or a serialization
failure the database reports).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kefu_host.metrics import MetricsOff
from kefu_host.store import pg
from kefu_host.store.batches import (
    TRANSACTION,
    AfterCommit,
    BatchKind,
    Conflict,
    SqliteBatchKind,
    StoreBusy,
    StoreUnavailable,
    classify,
    sqlite_batch,
)
from kefu_host.tasks import stop_tasks
from kefu_host.tracing import TRACING_OFF, Tracing

__all__ = ["CHAT", "EVENTS", "AfterCommit", "BatchKind", "Conflict", "GroupWriter", "SqliteBatchKind", "StoreBusy",
           "StoreUnavailable", "WriterStats"]

T = TypeVar("T")
R = TypeVar("R")
log = structlog.get_logger("kefu_host.store")

CHAT = "chat"
EVENTS = "events"
#: Runs of a batch that met concurrent writes (:class:`Conflict`) before its items are tried one by one.
CONFLICT_RETRIES = 3


@dataclass(slots=True)
class _Job(Generic[T]):
    kind: BatchKind[T]
    item: T
    future: asyncio.Future[Any]
    weight: int
    #: the caller's store span, when its trace is recorded; told the batch it was committed in
    span: Any = None


@dataclass
class WriterStats:
    batches: int = 0
    items: int = 0
    largest_batch: int = 0
    failed_batches: int = 0
    conflicts: int = 0
    refused: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


class _Lane:
    """Writes of one lane waiting for their batch; ``waiting`` is their total weight."""

    __slots__ = ("in_flight", "jobs", "max_batch", "max_pending", "name", "waiting", "worker")

    def __init__(self, name: str, max_pending: int, max_batch: int) -> None:
        self.name, self.max_pending, self.max_batch = name, max_pending, max_batch
        self.jobs: deque[_Job[Any]] = deque()
        self.waiting = 0
        self.in_flight = 0  # jobs of this lane in the batch being committed
        self.worker: _Worker

    def take(self) -> list[_Job[Any]]:
        """The oldest jobs, up to ``max_batch`` of weight (at least one)."""
        jobs, weight, queue = [], 0, self.jobs
        while queue and (not jobs or weight + queue[0].weight <= self.max_batch):
            job = queue.popleft()
            weight += job.weight
            jobs.append(job)
        self.waiting -= weight
        self.in_flight = len(jobs)
        return jobs


class GroupWriter:
    """The writer. Start it once, ``submit`` from anywhere in the loop, ``close`` to drain and stop.

    ``chat_pending`` and ``events_pending`` bound each lane (events count one per event); ``retry_after`` is the
    advice a refused caller gets. ``separate_lanes`` (default: on PostgreSQL) gives each lane its own connection.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_batch: int = 2000,
        chat_pending: int = 10_000,
        events_pending: int = 20_000,
        retry_after: float = 1.0,
        separate_lanes: bool | None = None,
    ) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.retry_after = retry_after
        self.stats = WriterStats()
        self.lanes = {CHAT: _Lane(CHAT, chat_pending, max_batch), EVENTS: _Lane(EVENTS, events_pending, max_batch)}
        if separate_lanes is None:
            separate_lanes = engine.dialect.name == "postgresql"
        groups = [[lane] for lane in self.lanes.values()] if separate_lanes else [list(self.lanes.values())]
        self._workers = [_Worker(self, lanes) for lanes in groups]
        self._closing = False
        self.metrics = MetricsOff()
        self.tracing = TRACING_OFF

    def observe(self, metrics: MetricsOff, tracing: Tracing) -> None:
        """Count batches and refusals into ``metrics``; give each write of a traced request a span."""
        self.metrics, self.tracing = metrics, tracing

    @property
    def running(self) -> bool:
        return all(w.task is not None and not w.task.done() for w in self._workers)

    def start(self) -> None:
        loop = asyncio.get_running_loop()  # asking for it per submit costs a getpid() each time
        for worker in self._workers:
            worker.start(loop)

    async def close(self) -> None:
        """Stop taking work, commit what is queued, then stop."""
        self._closing = True
        await asyncio.gather(*(worker.close() for worker in self._workers))

    def pending(self, lane: str = CHAT) -> int:
        """The weight of the writes waiting in ``lane`` (not counting a batch being committed)."""
        return self.lanes[lane].waiting

    def in_flight(self, lane: str = CHAT) -> int:
        """How many writes of ``lane`` the batch now being committed holds."""
        return self.lanes[lane].in_flight

    def admit(self, lane_name: str = CHAT, weight: int = 1) -> None:
        """Raise :class:`StoreBusy` (counted as a refusal) now if a write of ``weight`` would be refused in
        ``lane_name``: for a caller that must know before it changes anything else (an agent's ``take`` decides the
        assignment, then writes it)."""
        lane = self.lanes[lane_name]
        if lane.waiting and lane.waiting + weight > lane.max_pending:
            self.stats.refused += 1
            self.metrics.store_refused(lane.name)
            raise StoreBusy(lane.name, lane.max_pending, self.retry_after)

    async def submit(self, kind: BatchKind[T], item: T, weight: int = 1, *, bounded: bool = True) -> Any:
        """Queue ``item`` and wait until it is committed; returns the kind's result for it.

        Raises :class:`StoreBusy` at once when its lane already holds ``weight`` too many (an empty lane takes any
        item), :class:`StoreUnavailable` when the writer is closed. ``bounded=False`` skips the lane's bound: for
        the write that completes a decision already made after :meth:`admit` (refusing it then would leave the
        decision half done), never for a write a client can repeat at will.
        """
        lane = self.lanes[getattr(kind, "lane", CHAT)]
        worker = lane.worker
        if self._closing or worker.task is None or worker.task.done():
            raise StoreUnavailable("the store is not accepting writes")
        if bounded:
            self.admit(lane.name, weight)
        future: asyncio.Future[Any] = worker.loop.create_future()
        span = self.tracing.start_child(f"store {kind.name}") if self.tracing.tracer is not None else None
        lane.jobs.append(_Job(kind, item, future, weight, span))
        lane.waiting += weight
        if worker.wakeup is not None:
            worker.wake()
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

    async def transaction(self, fn: Callable[[AsyncConnection], Awaitable[R]], *, bounded: bool = True) -> R:
        """Run ``fn(conn)`` inside the next batch, in a savepoint of its own; return its result or raise its error."""
        return await self.submit(TRANSACTION, fn, bounded=bounded)  # type: ignore[no-any-return]


class _Worker:
    """One write connection and the task that commits the lanes it serves, a batch at a time."""

    def __init__(self, writer: GroupWriter, lanes: list[_Lane]) -> None:
        self.writer, self.lanes = writer, lanes
        for lane in lanes:
            lane.worker = self
        self.loop: asyncio.AbstractEventLoop  # set by start()
        self.task: asyncio.Task[None] | None = None
        # a wake-up future rather than an asyncio.Queue: the queue's bookkeeping cost every write a handful of
        # Python calls going in and out
        self.wakeup: asyncio.Future[None] | None = None  # set while the worker waits for work
        self.committing = False
        self.drained: asyncio.Future[None] | None = None  # set while close() waits for the lanes to empty
        #: one kept connection: checking one out of the pool per batch costs round trips
        self.conn: AsyncConnection | None = None
        self.sqlite: Any = None  # its aiosqlite connection, on SQLite
        self.pg: Any = None  # its asyncpg connection, on PostgreSQL

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        name = "kefu-group-writer" + "".join(f"-{lane.name}" for lane in self.lanes)
        self.task = loop.create_task(self._run(), name=name)

    async def close(self) -> None:
        if self.task is None:
            return
        if (any(lane.jobs for lane in self.lanes) or self.committing) and not self.task.done():
            self.drained = self.loop.create_future()
            self.wake()
            await self.drained
        await stop_tasks(self.task)
        await self._drop_connection()

    def wake(self) -> None:
        wakeup, self.wakeup = self.wakeup, None
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    async def _run(self) -> None:
        lanes = self.lanes
        while True:
            jobs = lanes[0].take() if len(lanes) == 1 else [job for lane in lanes for job in lane.take()]
            if not jobs:
                if self.drained is not None and not self.drained.done():
                    self.drained.set_result(None)
                self.wakeup = self.loop.create_future()
                await self.wakeup
                continue
            self.committing = True
            try:
                await self._commit(jobs)
            except Exception as exc:  # never let the writer die: fail these jobs and keep going
                log.exception("group commit failed", items=len(jobs))
                _fail(jobs, StoreUnavailable(f"database write failed: {exc}"))
            finally:
                self.committing = False
                for lane in lanes:
                    lane.in_flight = 0

    async def _commit(self, jobs: list[_Job[Any]]) -> None:
        writer = self.writer
        stats = writer.stats
        groups = _by_kind(jobs)
        start = time.perf_counter()  # commit latency as the callers wait it: Conflict re-runs included
        attempt = 0
        while True:
            try:
                results = await self._apply(jobs, groups)
                break
            except Conflict as exc:
                stats.conflicts += 1
                attempt += 1
                if attempt <= CONFLICT_RETRIES:
                    continue
                failure: Exception = exc
            except Exception as exc:
                failure = exc
            stats.failed_batches += 1
            writer.metrics.store_batch_failed()
            if len(jobs) == 1:
                _fail(jobs, classify(failure))
                log.error("write failed", kind=jobs[0].kind.name, error=f"{type(failure).__name__}: {failure}")
                return
            for job in jobs:  # isolate the item that broke the batch
                await self._commit([job])
            return
        seconds = time.perf_counter() - start
        size = sum(job.weight for job in jobs)  # writes: an events job holds ``weight`` events
        writer.metrics.store_batch(size, seconds)
        if writer.tracing.enabled:
            _tell_spans(jobs, size, seconds)
        _after_commit(jobs, groups, results)
        stats.batches += 1
        stats.items += len(jobs)
        stats.largest_batch = max(stats.largest_batch, len(jobs))
        kinds = stats.kinds
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

    async def _apply(self, jobs: list[_Job[Any]], groups: list[list[int]]) -> list[Any]:
        """Apply every job in one transaction, grouped by kind (``groups``: :func:`_by_kind`); results come back in
        job order."""
        results: list[Any] = [None] * len(jobs)
        if self.conn is None:
            self.conn = await self.writer.engine.connect()
            dialect = self.conn.dialect.name
            if dialect in ("sqlite", "postgresql"):
                driver = (await self.conn.get_raw_connection()).driver_connection
                if dialect == "sqlite":
                    self.sqlite = driver  # aiosqlite.Connection
                else:
                    self.pg = driver  # asyncpg.Connection
        work = [(jobs[indexes[0]].kind, [jobs[i].item for i in indexes]) for indexes in groups]
        try:
            if self.sqlite is not None and all(hasattr(kind, "apply_sqlite") for kind, _ in work):
                driver = self.sqlite
                outs = await driver._execute(sqlite_batch, driver._conn, work)  # on the driver's one thread
            elif self.pg is not None and all(hasattr(kind, "apply_pg") for kind, _ in work):
                outs = await pg.run_batch(self.pg, work)
            else:
                async with self.conn.begin():
                    outs = [await kind.apply(self.conn, items) for kind, items in work]
        except Conflict:
            raise  # rolled back; the connection is fine
        except Exception as exc:
            if pg.must_retry(exc):
                raise Conflict(f"the database rolled the batch back: {exc}") from exc
            await self._drop_connection()  # the next batch starts on a fresh connection
            raise
        for indexes, (kind, _), out in zip(groups, work, outs, strict=True):
            if len(out) != len(indexes):
                raise RuntimeError(f"batch kind {kind.name} returned {len(out)} results for {len(indexes)}")
            for i, value in zip(indexes, out, strict=True):
                results[i] = value
        return results

    async def _drop_connection(self) -> None:
        conn, self.conn, self.sqlite, self.pg = self.conn, None, None, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()


def _after_commit(jobs: list[_Job[Any]], groups: list[list[int]], results: list[Any]) -> None:
    for indexes in groups:
        committed = getattr(jobs[indexes[0]].kind, "committed", None)
        if committed is None:
            continue
        try:
            committed([jobs[i].item for i in indexes], [results[i] for i in indexes])
        except Exception:  # the write is durable; a failing observer must not turn it into an error
            log.exception("after-commit callback failed", kind=jobs[indexes[0]].kind.name)


def _tell_spans(jobs: Sequence[_Job[Any]], size: int, seconds: float) -> None:
    for job in jobs:
        if job.span is not None:
            job.span.set_attributes({"kefu.batch_size": size, "kefu.commit_seconds": seconds})


def _by_kind(jobs: Sequence[_Job[Any]]) -> list[list[int]]:
    """Job indexes grouped by kind, kinds in order of first appearance, jobs in submission order."""
    groups: dict[int, list[int]] = {}
    for n, job in enumerate(jobs):
        groups.setdefault(id(job.kind), []).append(n)
    return list(groups.values())


def _set_exception(future: asyncio.Future[Any], exc: BaseException) -> None:
    """Fail a caller's wait. Marked as seen at once: a caller that went away must not turn a write's failure into
    an "exception was never retrieved" report (one that waits still gets it raised)."""
    future.set_exception(exc)
    future.exception()


def _fail(jobs: Sequence[_Job[Any]], exc: BaseException) -> None:
    for job in jobs:
        if not job.future.done():
            _set_exception(job.future, exc)
