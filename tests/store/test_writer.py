"""The group-commit writer: durable before acknowledged, batched under load, one bad item fails alone."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kefu_host.events.record import Pending, RecordEvents
from kefu_host.events.types import Event
from kefu_host.metrics import Metrics
from kefu_host.store import Store, StoreBusy, StoreUnavailable, open_store
from kefu_host.store.models import Customer, ProcessedEvent
from kefu_host.tracing import TRACING_OFF
from tests.store.locks import holding_writes, until


class InsertEvents:
    """A batch kind that writes every item with one executemany."""

    name = "test_events"

    async def apply(self, conn: AsyncConnection, items: Sequence[dict[str, Any]]) -> list[Any]:
        await conn.execute(insert(ProcessedEvent), list(items))
        return [item["event_id"] for item in items]


def event(n: int) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"source": "test", "event_id": f"e{n}", "type": "t", "occurred_at": now, "received_at": now, "payload": {"n": n}}


async def count(store: Store) -> int:
    async with store.read() as conn:
        return (await conn.execute(select(func.count()).select_from(ProcessedEvent))).scalar_one()


async def test_rows_round_trip_with_types_intact(db_url: str) -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    async with open_store(db_url) as store:

        async def add(conn: AsyncConnection) -> int:
            result = await conn.execute(
                insert(Customer).values(uid="u1", name="李雷", tags=["vip", "beta"], attributes={"plan": "pro"},
                                        last_login_at=when, field_times={"name": when.isoformat()})
            )
            return result.inserted_primary_key[0]

        customer_id = await store.writer.transaction(add)
        async with store.read() as conn:
            row = (await conn.execute(select(Customer).where(Customer.id == customer_id))).one()
    assert (row.uid, row.name, row.tags, row.attributes) == ("u1", "李雷", ["vip", "beta"], {"plan": "pro"})
    assert row.last_login_at == when and row.last_login_at.tzinfo is not None
    assert row.vip_level == 0 and row.ltv_cents == 0


async def test_concurrent_writes_share_commits(db_url: str) -> None:
    async with open_store(db_url) as store:
        kind = InsertEvents()
        results = await asyncio.gather(*(store.writer.submit(kind, event(n)) for n in range(500)))
        assert results == [f"e{n}" for n in range(500)]
        assert await count(store) == 500
        stats = store.writer.stats
    assert stats.items == 500
    assert stats.batches < 50  # submitted together, they are committed together
    assert stats.largest_batch > 10


async def test_a_bad_item_fails_alone(db_url: str) -> None:
    async with open_store(db_url) as store:
        kind = InsertEvents()
        await store.writer.submit(kind, event(1))
        outcomes = await asyncio.gather(
            *(store.writer.submit(kind, event(n)) for n in (2, 1, 3)),  # e1 again violates the primary key
            return_exceptions=True,
        )
        assert outcomes[0] == "e2" and outcomes[2] == "e3"
        assert isinstance(outcomes[1], Exception)
        assert not isinstance(outcomes[1], StoreUnavailable)  # the item's own fault, not an outage
        assert await count(store) == 3


async def test_a_failing_transaction_function_leaves_its_batch_mates_committed(db_url: str) -> None:
    async with open_store(db_url) as store:

        async def good(conn: AsyncConnection) -> str:
            await conn.execute(insert(Customer).values(uid="good"))
            return "ok"

        async def bad(conn: AsyncConnection) -> None:
            await conn.execute(insert(Customer).values(uid="bad"))
            raise ValueError("changed my mind")

        outcomes = await asyncio.gather(
            store.writer.transaction(good), store.writer.transaction(bad), return_exceptions=True
        )
        assert outcomes[0] == "ok"
        assert isinstance(outcomes[1], ValueError)
        async with store.read() as conn:
            uids = (await conn.execute(select(Customer.uid))).scalars().all()
        assert uids == ["good"]


async def test_closing_drains_queued_writes_then_refuses(db_url: str) -> None:
    async with open_store(db_url) as store:
        kind = InsertEvents()
        pending = [asyncio.create_task(store.writer.submit(kind, event(n))) for n in range(50)]
        await asyncio.sleep(0)  # queued, not yet committed
        await store.writer.close()
        assert [t.result() for t in pending] == [f"e{n}" for n in range(50)]
        with pytest.raises(StoreUnavailable):
            await store.writer.submit(kind, event(99))
    async with open_store(db_url) as store:
        assert await count(store) == 50


@pytest.mark.parametrize("queued_behind", [0, 5])
async def test_closing_waits_for_the_batch_in_flight_and_what_queued_behind_it(db_url: str, queued_behind: int) -> None:
    async with open_store(db_url) as store:
        release = asyncio.Event()

        async def slow(conn: Any) -> str:
            await release.wait()
            return "slow"

        first = asyncio.create_task(store.writer.transaction(slow))
        await asyncio.sleep(0.05)  # the writer is inside that batch now
        kind = InsertEvents()
        later = [asyncio.create_task(store.writer.submit(kind, event(n))) for n in range(queued_behind)]
        await asyncio.sleep(0)
        closing = asyncio.create_task(store.writer.close())
        await asyncio.sleep(0.05)
        assert not closing.done() and not first.done()
        release.set()
        await asyncio.wait_for(closing, 10)
        assert first.result() == "slow"
        assert [t.result() for t in later] == [f"e{n}" for n in range(queued_behind)]
        assert not store.writer.running


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Any) -> None:
    async with open_store(f"sqlite+aiosqlite:///{tmp_path}/w.db") as store:
        async with store.read() as conn:
            mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar_one()
            fks = (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar_one()
            busy = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar_one()
    assert (mode, fks) == ("wal", 1)
    assert busy >= 1000


class RawEvents:
    """A kind with a plain-sqlite3 path, as the hot paths have; a payload of "boom" breaks its batch."""

    name = "raw_events"

    async def apply(self, conn: AsyncConnection, items: Sequence[dict[str, Any]]) -> list[Any]:
        raise AssertionError("on SQLite a batch of raw kinds must run on the driver thread")

    def apply_sqlite(self, db: Any, items: Sequence[dict[str, Any]]) -> list[Any]:
        for item in items:
            if item["payload"] == "boom":
                raise ValueError("boom")
            db.execute(
                "INSERT INTO processed_events (source, event_id, type, occurred_at, received_at, payload) "
                "VALUES ('raw', ?, 't', '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000', '{}')",
                (item["id"],),
            )
        return [item["id"] for item in items]


async def test_a_raw_sqlite_batch_is_one_transaction_and_a_bad_item_still_fails_alone(tmp_path: Any) -> None:
    async with open_store(f"sqlite+aiosqlite:///{tmp_path}/raw.db") as store:
        kind = RawEvents()
        outcomes = await asyncio.gather(
            *(store.writer.submit(kind, {"id": f"r{n}", "payload": "boom" if n == 3 else "ok"}) for n in range(6)),
            return_exceptions=True,
        )
        assert [o if isinstance(o, str) else type(o).__name__ for o in outcomes] == [
            "r0", "r1", "r2", "ValueError", "r4", "r5"
        ]
        assert await count(store) == 5
        assert store.writer.stats.failed_batches >= 1  # the first, shared attempt was rolled back whole


async def add_customer(store: Store, uid: str) -> int:
    async def write(conn: AsyncConnection) -> int:
        return (await conn.execute(insert(Customer).values(uid=uid))).inserted_primary_key[0]

    return await store.writer.transaction(write)


async def uids(store: Store) -> list[str]:
    async with store.read() as conn:
        return sorted((await conn.execute(select(Customer.uid))).scalars().all())


async def test_a_full_lane_refuses_at_once_and_takes_writes_again_once_it_drains(db_url: str) -> None:
    async with open_store(db_url, chat_queue_limit=3, retry_after=2.5, sqlite_busy_timeout=120) as store:
        writer = store.writer
        metrics = Metrics()
        writer.observe(metrics, TRACING_OFF)
        async with holding_writes(db_url, "customers"):
            first = asyncio.create_task(add_customer(store, "c0"))
            await until(lambda: writer.in_flight() == 1 and writer.pending() == 0)  # blocked on the lock
            queued = [asyncio.create_task(add_customer(store, f"c{n}")) for n in (1, 2, 3)]
            await until(lambda: writer.pending() == 3)
            with pytest.raises(StoreBusy) as refused:
                await add_customer(store, "c4")
            assert refused.value.retry_after == 2.5 and refused.value.lane == "chat"
            assert isinstance(refused.value, StoreUnavailable)  # callers that only know the outage still cope
            assert not first.done() and not any(t.done() for t in queued)  # waiting, not failed
        await asyncio.gather(first, *queued)
        await add_customer(store, "c4")  # the same write, retried once the lane drained
        assert await uids(store) == ["c0", "c1", "c2", "c3", "c4"]
        assert writer.stats.refused == 1
        assert metrics.writes_refused.labels("chat").value == 1
        assert metrics.writes_refused.labels("events").value == 0


def pending_event(n: int) -> Pending:
    return Pending(Event(f"flood-{n}", "user.login", datetime.now(UTC), {}, "shop"), None, None)


async def test_chat_writes_do_not_wait_behind_an_event_backlog(db_url: str) -> None:
    """PostgreSQL: the events lane has its own connection, so chat commits while events are stuck. SQLite: one
    writer, but every batch takes chat writes beside at most ``max_batch`` events."""
    kind = RecordEvents()
    async with open_store(db_url, max_batch=10, sqlite_busy_timeout=120) as store:
        writer = store.writer
        done: list[str] = []
        async with holding_writes(db_url, "processed_events"):
            stuck = asyncio.create_task(writer.submit(kind, (pending_event(0),)))
            await until(lambda: writer.in_flight("events") == 1)
            flood = [asyncio.create_task(writer.submit(kind, (pending_event(n),))) for n in range(1, 101)]
            for n, task in enumerate(flood):
                task.add_done_callback(lambda _, n=n: done.append(f"event {n}"))
            await until(lambda: writer.pending("events") == 100)
            chat = asyncio.create_task(add_customer(store, "chat"))
            chat.add_done_callback(lambda _: done.append("chat"))
            if store.dialect == "postgresql":
                await asyncio.wait_for(chat, 20)  # committed while every event still waits for the lock
                assert done == ["chat"] and not stuck.done()
        await asyncio.gather(stuck, chat, *flood)
        # SQLite: the chat write went into the first batch after the blocked one, beside 10 of the 100 events
        assert done.index("chat") <= 10
        async with store.read() as conn:
            events = (await conn.execute(select(func.count()).select_from(ProcessedEvent))).scalar_one()
        assert events == 101 and await uids(store) == ["chat"]


async def test_each_commit_is_counted_with_its_writes_and_its_time(db_url: str) -> None:
    """One commit of a three-event request and a chat write is one batch of four writes on SQLite (one writer for
    both lanes); on PostgreSQL each lane commits its own batch (three writes, one)."""
    async with open_store(db_url, sqlite_busy_timeout=120) as store:
        writer = store.writer
        metrics = Metrics()
        writer.observe(metrics, TRACING_OFF)
        async with holding_writes(db_url, "processed_events", "customers"):
            blocked = asyncio.create_task(add_customer(store, "first"))
            await until(lambda: writer.in_flight() == 1)
            events = asyncio.create_task(writer.submit(RecordEvents(), tuple(pending_event(n) for n in range(3)),
                                                       weight=3))
            chat = asyncio.create_task(add_customer(store, "second"))
            if store.dialect == "postgresql":  # the events lane's own connection waits on the lock too
                await until(lambda: writer.in_flight("events") == 1 and writer.pending() == 1)
            else:
                await until(lambda: writer.pending("events") == 3 and writer.pending() == 1)
        await asyncio.gather(blocked, events, chat)
        sizes = metrics.batch_size.series[()]
        seconds = metrics.commit_seconds.series[()]
        expected = [1, 3, 1] if store.dialect == "postgresql" else [1, 4]
        assert sum(sizes.counts) == sum(seconds.counts) == len(expected)
        assert sizes.sum == sum(expected)
        assert seconds.sum > 0
        assert metrics.batches_failed.cells[()].value == 0
