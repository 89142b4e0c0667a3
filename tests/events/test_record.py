"""Recording events gives the same results through the SQLite fast path and portable Core (PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from kefu_host.config import EventsConfig
from kefu_host.events.changes import CustomerChange
from kefu_host.events.core_types import core_event_types
from kefu_host.events.record import Outcome, Pending, RecordEvents
from kefu_host.events.types import Event
from kefu_host.store import open_store
from kefu_host.store.models import Customer, ProcessedEvent

TYPES = {t.name: t for t in core_event_types(EventsConfig(exchange_rates={"USD": 7.0}))}
T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def pending(event_id: str, kind: str, data: dict, at: datetime = T0) -> Pending:
    event = Event(event_id, kind, at, data, "shop")
    return Pending(event, data.get("uid"), TYPES[kind].change(event))  # type: ignore[misc]


async def record(store: Any, item: Pending) -> Outcome:
    """Record one event as a request of its own (the writer's items are requests)."""
    outcomes = await store.writer.submit(RecordEvents(), (item,))
    return outcomes[0]  # type: ignore[no-any-return]


async def test_events_apply_once_in_order_of_occurrence(db_url: str) -> None:
    async with open_store(db_url) as store:
        first = await asyncio.gather(
            record(store, pending("e1", "user.profile_updated",
                                              {"uid": "u1", "name": "new", "attributes": {"tier": "gold"}},
                                              T0 + timedelta(minutes=5))),
            record(store, pending("e2", "user.profile_updated",
                                              {"uid": "u1", "name": "old", "email": "a@example.com",
                                               "attributes": {"tier": "silver", "city": "杭州"}})),
            record(store, pending("e3", "order.paid",
                                              {"uid": "u1", "order_id": "o", "amount": "10.50", "currency": "USD"})),
            record(store, pending("e4", "user.login", {"uid": "u1", "ip": "10.0.0.1",
                                                                   "extra": {"vip_level": 2}})),
            record(store, pending("e1", "user.profile_updated", {"uid": "u1", "name": "again"})),
        )
        assert [o.status for o in first] == ["accepted"] * 4 + ["duplicate"]
        assert isinstance(first[0], Outcome) and first[0].changed == {"name", "attributes.tier"}
        assert first[1].changed == {"email", "attributes.city"}  # older: only the fields nobody set later
        assert first[2].changed == {"ltv"} and first[2].customer.ltv_cents == 7350
        last = first[3].customer
        assert (last.name, last.email, last.vip_level, last.ltv_cents) == ("new", "a@example.com", 2, 7350)
        assert last.attributes == {"tier": "gold", "city": "杭州"}

        again = await record(store, pending("e3", "order.paid",
                                                        {"uid": "u1", "order_id": "o", "amount": 1, "currency": "USD"}))
        assert again.status == "duplicate"
        async with store.read() as conn:
            row = (await conn.execute(select(Customer).where(Customer.uid == "u1"))).one()
            count = (await conn.execute(select(func.count()).select_from(ProcessedEvent))).scalar_one()
        assert (row.name, row.ltv_cents, row.vip_level, row.last_ip) == ("new", 7350, 2, "10.0.0.1")
        assert row.last_login_at == T0
        assert count == 4


async def test_a_bad_event_fails_alone_in_its_batch(db_url: str) -> None:
    async with open_store(db_url) as store:
        good = pending("g1", "user.login", {"uid": "ok"})
        broken = CustomerChange(values={"no_such_column": 1})  # a change the database refuses
        bad = Pending(Event("b1", "user.login", T0, {"uid": "bad"}, "shop"), "bad", broken)
        outcomes = await asyncio.gather(record(store, good), record(store, bad),
                                        return_exceptions=True)
        assert outcomes[0].status == "accepted"
        assert isinstance(outcomes[1], Exception)
        async with store.read() as conn:
            ids = set((await conn.execute(select(ProcessedEvent.event_id))).scalars())
            uids = set((await conn.execute(select(Customer.uid))).scalars())
        assert ids == {"g1"} and uids == {"ok"}  # the bad event left nothing behind, not even its id


async def test_the_events_of_one_request_are_recorded_together_or_not_at_all(db_url: str) -> None:
    async with open_store(db_url) as store:
        broken = CustomerChange(values={"no_such_column": 1})
        request = (pending("r1", "user.login", {"uid": "first"}), pending("r2", "user.login", {"uid": "second"}),
                   Pending(Event("r3", "user.login", T0, {"uid": "third"}, "shop"), "third", broken))
        other = (pending("o1", "user.login", {"uid": "other"}),)
        outcomes = await asyncio.gather(store.writer.submit(RecordEvents(), request),
                                        store.writer.submit(RecordEvents(), other), return_exceptions=True)
        assert isinstance(outcomes[0], Exception) and [o.status for o in outcomes[1]] == ["accepted"]
        async with store.read() as conn:
            ids = set((await conn.execute(select(ProcessedEvent.event_id))).scalars())
            uids = set((await conn.execute(select(Customer.uid))).scalars())
        assert ids == {"o1"} and uids == {"other"}  # nothing of the failed request, all of the other
        again = await store.writer.submit(RecordEvents(), request[:2])
        assert [o.status for o in again] == ["accepted", "accepted"]


async def test_a_large_batch_gives_what_recording_one_by_one_gives(db_url: str, tmp_path: object) -> None:
    """Batches are cut into multi-row statements; outcomes and rows match the events applied one at a time."""
    events = []
    for n in range(150):  # more than the largest statement chunk, an odd count, customers seen for the first time
        uid = f"u{n % 7}"
        at = T0 + timedelta(seconds=(n * 37) % 101)  # out of order
        if n % 5 == 0:
            events.append(pending(f"e{n}", "order.paid", {"uid": uid, "order_id": f"o{n}", "amount": n,
                                                          "currency": "USD"}, at))
        else:
            events.append(pending(f"e{n}", "user.profile_updated",
                                  {"uid": uid, "name": f"name {n}", "attributes": {"k": n, f"a{n % 3}": n}}, at))
    events += [events[3], events[140], events[64]]  # copies of ids already in the batch
    reference_url = f"sqlite+aiosqlite:///{tmp_path}/reference.db"
    async with open_store(reference_url) as reference:
        one_by_one = [await record(reference, p) for p in events]
        async with reference.read() as conn:
            expected_rows = sorted(tuple(r) for r in (await conn.execute(
                select(Customer.uid, Customer.name, Customer.ltv_cents, Customer.attributes))).all())
    async with open_store(db_url) as store:
        batched = await asyncio.gather(*(record(store, p) for p in events))
        assert store.writer.stats.batches == 1
        async with store.read() as conn:
            rows = sorted(tuple(r) for r in (await conn.execute(
                select(Customer.uid, Customer.name, Customer.ltv_cents, Customer.attributes))).all())
            count = (await conn.execute(select(func.count()).select_from(ProcessedEvent))).scalar_one()
    assert [o.status for o in batched].count("duplicate") == 3 and count == 150
    assert [(o.id, o.status, o.changed) for o in batched] == [(o.id, o.status, o.changed) for o in one_by_one]
    views = [(o.customer.uid, o.customer.name, o.customer.ltv_cents, o.customer.attributes) if o.customer else None
             for o in batched]
    assert views == [(o.customer.uid, o.customer.name, o.customer.ltv_cents, o.customer.attributes)
                     if o.customer else None for o in one_by_one]
    assert rows == expected_rows


async def test_times_written_by_the_fast_path_read_back_exactly(db_url: str) -> None:
    from datetime import timezone

    shanghai = datetime(2026, 5, 1, 9, 30, tzinfo=timezone(timedelta(hours=8)))  # whole seconds, not UTC
    async with open_store(db_url) as store:
        await record(store, pending("t1", "user.login", {"uid": "u-t"}, shanghai))
        async with store.read() as conn:
            occurred = (await conn.execute(select(ProcessedEvent.occurred_at))).scalar_one()
            login = (await conn.execute(select(Customer.last_login_at))).scalar_one()
    assert occurred == shanghai and login == shanghai and occurred.utcoffset() == timedelta(0)


async def test_two_writers_on_postgresql_record_each_event_once_without_deadlock(pg_url: str) -> None:
    """Two hosts take overlapping batches of orders for the same customers, in opposite orders: each event is
    accepted by exactly one of them, the other answers duplicate, and no order is lost or counted twice (ids are
    claimed in id order and customers locked in uid order, so the two never deadlock)."""
    import contextlib

    orders = [pending(f"o{n}", "order.paid", {"uid": f"u{n % 7}", "order_id": f"o{n}", "amount": "1.00",
                                              "currency": "CNY"}) for n in range(210)]
    requests = [tuple(orders[n : n + 3]) for n in range(0, 210, 3)]
    async with contextlib.AsyncExitStack() as stack:
        one = await stack.enter_async_context(open_store(pg_url))
        two = await stack.enter_async_context(open_store(pg_url, migrate=False))
        kind_one, kind_two = RecordEvents(), RecordEvents()  # one per host, as each host's Ingestor has
        a, b = await asyncio.gather(
            asyncio.gather(*(one.writer.submit(kind_one, r, weight=3) for r in requests)),
            asyncio.gather(*(two.writer.submit(kind_two, tuple(reversed(r)), weight=3) for r in reversed(requests))),
        )
        async with one.read() as conn:
            ltv = dict((await conn.execute(select(Customer.uid, Customer.ltv_cents))).all())
            stored = (await conn.execute(select(func.count()).select_from(ProcessedEvent))).scalar_one()
    status: dict[str, list[str]] = {}
    for outcome in [o for group in a + b for o in group]:
        status.setdefault(outcome.id, []).append(outcome.status)
    assert len(status) == 210 and all(sorted(s) == ["accepted", "duplicate"] for s in status.values())
    assert stored == 210
    assert ltv == {f"u{k}": 100 * len(range(k, 210, 7)) for k in range(7)}
    assert one.writer.stats.conflicts == two.writer.stats.conflicts == 0  # no deadlock to recover from
