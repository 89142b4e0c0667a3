"""POST /api/events: each answer the API promises, and nothing stored unless 2xx."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from kefu_host.events.changes import MAX_LTV_CENTS
from kefu_host.events.signing import sign
from kefu_host.keys import STORE
from kefu_host.store.models import Customer, ProcessedEvent, RoutingDecision
from kefu_host.testing.events import envelope, signed
from tests.events.conftest import OLD_SECRET, SECRET
from tests.metrics.conftest import scrape
from tests.store.locks import holding_writes, until


async def stored_events(host: Any) -> int:
    async with host.app[STORE].read() as conn:
        return int((await conn.execute(select(func.count()).select_from(ProcessedEvent))).scalar_one())


async def customer(host: Any, uid: str) -> Any:
    async with host.app[STORE].read() as conn:
        return (await conn.execute(select(Customer).where(Customer.uid == uid))).one_or_none()


async def test_a_signed_event_is_stored_and_applied(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    answer = await host.send("user.profile_updated", {"uid": "u1", "name": "韩梅梅", "email": "mei@example.com",
                                                      "attributes": {"plan": "pro"}})
    assert answer["status"] == "accepted"
    row = await customer(host, "u1")
    assert (row.name, row.email, row.attributes) == ("韩梅梅", "mei@example.com", {"plan": "pro"})
    assert await stored_events(host) == 1


async def test_a_repeated_event_has_no_second_effect(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    paid = envelope("order.paid", {"uid": "u2", "order_id": "o-1", "amount": "199.90", "currency": "CNY"})
    first = await host.post(paid)
    again = await host.post(paid)
    assert (await first.json())["status"] == "accepted" and (await again.json())["status"] == "duplicate"
    assert (await customer(host, "u2")).ltv_cents == 19990


async def test_concurrent_copies_of_one_event_count_once(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    paid = envelope("order.paid", {"uid": "u3", "order_id": "o-9", "amount": 50, "currency": "CNY"})
    answers = await asyncio.gather(*(host.post(paid) for _ in range(20)))
    statuses = sorted([(await a.json())["status"] for a in answers])
    assert statuses == ["accepted"] + ["duplicate"] * 19
    assert (await customer(host, "u3")).ltv_cents == 5000


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (envelope("order.paid", {"uid": "u", "order_id": "o", "amount": -1, "currency": "CNY"}), "data.amount"),
        (envelope("order.paid", {"uid": "u", "order_id": "o", "amount": 1}), "data.currency"),
        (envelope("order.paid", {"order_id": "o", "amount": 1, "currency": "CNY"}), "data.uid"),
        (envelope("user.profile_updated", {"uid": "u", "nickname": "x"}), "data.nickname"),
        (envelope("order.paid", {"uid": "u", "order_id": "o", "amount": 1, "currency": "JPY"}), "data.currency"),
        (envelope("user.exploded", {"uid": "u"}), "type"),
        ({**envelope("user.login", {"uid": "u"}), "occurred_at": "2026-11-26T10:00:00"}, "occurred_at"),
        ({**envelope("user.login", {"uid": "u"}), "id": ""}, "id"),
        ({**envelope("user.login", {"uid": "u"}), "extra": 1}, "extra"),
        (envelope("user.login", {"uid": "u", "extra": {"vip_level": "gold"}}), "data.extra.vip_level"),
    ],
)
async def test_schema_errors_name_the_field(start_host: Callable[..., Any], payload: Any, field: str) -> None:
    host = await start_host()
    response = await host.post(payload)
    assert response.status == 422
    error = (await response.json())["error"]
    assert (error["code"], error["field"]) == ("invalid_event", field)
    assert error["message"].startswith(f"{field}: ")
    assert await stored_events(host) == 0


async def test_signature_problems_are_401(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    payload = envelope("user.login", {"uid": "u"})
    unsigned = await host.client.post("/api/events", json=payload)
    assert unsigned.status == 401
    wrong = await host.post(payload, secret="whsec_d3Jvbmc=")
    assert wrong.status == 401 and (await wrong.json())["error"]["code"] == "bad_signature"
    body, headers = signed(SECRET, payload)
    tampered = await host.client.post("/api/events", data=body.replace(b'"u"', b'"v"'), headers=headers)
    assert tampered.status == 401
    assert await stored_events(host) == 0


async def test_both_secrets_work_during_a_rotation(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    assert (await host.post(envelope("user.login", {"uid": "a"}), secret=OLD_SECRET)).status == 200
    assert (await host.post(envelope("user.login", {"uid": "b"}), secret=SECRET)).status == 200


async def test_invalid_json_is_400(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    body = b'{"id": "evt", "type":'
    from kefu_host.events.signing import sign

    response = await host.client.post("/api/events", data=body, headers=sign(SECRET, "evt", body))
    assert response.status == 400 and (await response.json())["error"]["code"] == "invalid_json"


async def test_an_oversized_body_is_413(start_host: Callable[..., Any]) -> None:
    host = await start_host("[events]\nmax_body_bytes = 2048\n")
    big = envelope("user.profile_updated", {"uid": "u", "name": "x" * 4000})
    assert (await host.post(big)).status == 413


async def test_a_batch_is_validated_whole_then_stored(start_host: Callable[..., Any]) -> None:
    host = await start_host("[events]\nmax_batch = 3\n")
    good = [envelope("order.paid", {"uid": "b1", "order_id": f"o{n}", "amount": 10, "currency": "CNY"})
            for n in range(2)]
    bad = envelope("order.paid", {"uid": "b1", "order_id": "x", "amount": "ten", "currency": "CNY"})
    refused = await host.post({"events": [*good, bad]}, path="/api/events/batch")
    assert refused.status == 422 and (await refused.json())["error"]["field"] == "events[2].data.amount"
    assert await stored_events(host) == 0
    accepted = await host.post({"events": [*good, good[0]]}, path="/api/events/batch")
    assert [r["status"] for r in (await accepted.json())["results"]] == ["accepted", "accepted", "duplicate"]
    assert (await customer(host, "b1")).ltv_cents == 2000
    too_many = await host.post({"events": [*good, *good]}, path="/api/events/batch")
    assert too_many.status == 413


async def test_a_locked_database_answers_503_and_stores_nothing(
    start_host: Callable[..., Any], tmp_path: Path
) -> None:
    host = await start_host(environ={"KEFU_DATABASE__SQLITE_BUSY_TIMEOUT": "0.2"})
    blocker = sqlite3.connect(tmp_path / "kefu.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    try:
        response = await host.post(envelope("user.login", {"uid": "late"}))
        assert response.status == 503
        assert response.headers["Retry-After"] == "5"
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert await stored_events(host) == 0
    retry = await host.post(envelope("user.login", {"uid": "late"}))  # the sender retries later: it goes in
    assert retry.status == 200


async def test_older_profile_events_never_overwrite_newer_values(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    now = datetime.now(UTC)
    await host.send("user.profile_updated", {"uid": "o1", "name": "new name", "attributes": {"tier": "gold"}},
                    occurred_at=now)
    await host.send("user.profile_updated", {"uid": "o1", "name": "old name", "email": "old@example.com",
                                             "attributes": {"tier": "silver", "city": "杭州"}},
                    occurred_at=now - timedelta(minutes=5))
    row = await customer(host, "o1")
    assert row.name == "new name"  # the older event lost on this field
    assert row.email == "old@example.com"  # but set a field nobody had set
    assert row.attributes == {"tier": "gold", "city": "杭州"}


async def processed(host: Any) -> int:
    return await stored_events(host)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (envelope("user.profile_updated", {"uid": "u", "name": "Li\x00Lei"}), "data.name"),
        (envelope("user.profile_updated", {"uid": "u", "attributes": {"note": "a\x00"}}), "data.attributes.note"),
        (envelope("user.profile_updated", {"uid": "u", "attributes": {"k\x00": 1}}), "data.attributes.k\\u0000"),
        (envelope("user.login", {"uid": "u\x00"}), "data.uid"),
        ({**envelope("user.login", {"uid": "u"}), "id": "evt\x00"}, "id"),
    ],
)
async def test_text_holding_nul_is_a_422_on_every_database(
    start_host: Callable[..., Any], db_url: str, payload: Any, field: str
) -> None:
    host = await start_host(db_url=db_url)
    body, headers = signed(SECRET, payload, msg_id="msg-nul")  # a header cannot carry the NUL of the id
    response = await host.client.post("/api/events", data=body, headers=headers)
    assert response.status == 422, await response.text()
    error = (await response.json())["error"]
    assert error == {"code": "invalid_event", "field": field, "message": f"{field}: must not contain U+0000 (NUL)"}
    assert await processed(host) == 0 and await customer(host, "u") is None


@pytest.mark.parametrize("level", [2**31, 2**63, 1e19, -1])
async def test_a_vip_level_past_its_column_is_a_422(start_host: Callable[..., Any], db_url: str, level: Any) -> None:
    host = await start_host(db_url=db_url)
    response = await host.post(envelope("user.login", {"uid": "v", "extra": {"vip_level": level}}))
    assert response.status == 422 and (await response.json())["error"]["field"] == "data.extra.vip_level"
    assert await processed(host) == 0


async def test_a_vip_level_written_with_a_zero_fraction_is_stored_as_that_integer(
    start_host: Callable[..., Any], db_url: str
) -> None:
    host = await start_host(db_url=db_url)
    await host.send("user.login", {"uid": "v", "extra": {"vip_level": 3.0}})
    assert (await customer(host, "v")).vip_level == 3


@pytest.mark.parametrize("amount", [1e17, 10**12 + 1, "1000000000000.01", "9" * 5000, 1e308])
async def test_an_amount_past_the_documented_maximum_is_a_422(
    start_host: Callable[..., Any], db_url: str, amount: Any
) -> None:
    host = await start_host(db_url=db_url)
    response = await host.post(envelope("order.paid", {"uid": "m", "order_id": "o", "amount": amount,
                                                       "currency": "CNY"}))
    assert response.status == 422, await response.text()
    assert (await response.json())["error"]["field"] == "data.amount"
    assert await processed(host) == 0


async def test_the_maximum_amount_itself_is_accepted(start_host: Callable[..., Any], db_url: str) -> None:
    host = await start_host(db_url=db_url)
    await host.send("order.paid", {"uid": "m", "order_id": "o", "amount": 10**12, "currency": "CNY"})
    assert (await customer(host, "m")).ltv_cents == 10**14


async def _set_ltv(host: Any, uid: str, cents: int) -> None:
    from sqlalchemy import update

    await host.send("user.login", {"uid": uid})

    async def write(conn: Any) -> None:
        await conn.execute(update(Customer).where(Customer.uid == uid).values(ltv_cents=cents))

    await host.app[STORE].writer.transaction(write)


async def test_an_order_that_would_take_the_ltv_past_its_maximum_is_a_422_and_later_orders_still_work(
    start_host: Callable[..., Any], db_url: str
) -> None:
    host = await start_host(db_url=db_url)
    near = MAX_LTV_CENTS - 100  # one unit below the documented maximum
    await _set_ltv(host, "rich", near)
    past = await host.post(envelope("order.paid", {"uid": "rich", "order_id": "o1", "amount": "1.01",
                                                   "currency": "CNY"}))
    assert past.status == 422, await past.text()
    error = (await past.json())["error"]
    assert error["field"] == "data.amount" and "lifetime value" in error["message"]
    assert (await customer(host, "rich")).ltv_cents == near and await processed(host) == 1  # only the login
    await host.send("order.paid", {"uid": "rich", "order_id": "o2", "amount": 1, "currency": "CNY"})
    await host.send("order.refunded", {"uid": "rich", "order_id": "o2", "amount": 5, "currency": "CNY"})
    assert (await customer(host, "rich")).ltv_cents == near + 100 - 500


async def test_a_batch_is_stored_whole_or_not_at_all(start_host: Callable[..., Any], db_url: str) -> None:
    host = await start_host(db_url=db_url)
    # an LTV at the end of its 64-bit column (written before the documented maximum existed): adding to it
    # overflowed the column halfway through the batch, a 500 with the events before it stored
    await _set_ltv(host, "rich", 2**63 - 100)
    fine = [envelope("order.paid", {"uid": f"b{n}", "order_id": f"o{n}", "amount": 10, "currency": "CNY"})
            for n in range(3)]
    breaking = envelope("order.paid", {"uid": "rich", "order_id": "x", "amount": 2, "currency": "CNY"})
    refused = await host.post({"events": [*fine, breaking]}, path="/api/events/batch")
    assert refused.status == 422, await refused.text()
    assert (await refused.json())["error"]["field"] == "data.amount"
    assert await processed(host) == 1 and await customer(host, "b0") is None  # none of the batch stayed
    accepted = await host.post({"events": fine}, path="/api/events/batch")
    assert [r["status"] for r in (await accepted.json())["results"]] == ["accepted"] * 3


@pytest.mark.parametrize("signature", ["v1,é", "v1,令牌", "v1,\u00e9 v1,x"])
async def test_a_non_ascii_signature_is_a_401(start_host: Callable[..., Any], signature: str) -> None:
    host = await start_host()
    body, headers = signed(SECRET, envelope("user.login", {"uid": "s"}))
    response = await host.client.post("/api/events", data=body, headers={**headers, "webhook-signature": signature})
    assert response.status == 401 and (await response.json())["error"]["code"] == "bad_signature"


@pytest.mark.parametrize("timestamp", ["²", "١٧٣٢٦١٢٣٤٥", "9" * 5000, " 1732612345", "1_732_612_345", "-1"])
async def test_a_timestamp_that_is_not_plain_digits_is_a_401(start_host: Callable[..., Any], timestamp: str) -> None:
    host = await start_host()
    body, headers = signed(SECRET, envelope("user.login", {"uid": "s"}))
    response = await host.client.post("/api/events", data=body, headers={**headers, "webhook-timestamp": timestamp})
    assert response.status == 401 and (await response.json())["error"]["code"] == "bad_signature"


@pytest.mark.parametrize("occurred_at", [
    (datetime.now(UTC) + timedelta(days=365)).isoformat(), "9999-12-31T23:59:59-14:00", "1969-12-31T23:59:59Z",
    "0001-01-01T00:00:00+14:00",
])
async def test_an_occurred_at_beyond_the_documented_bounds_is_a_422(
    start_host: Callable[..., Any], db_url: str, occurred_at: str
) -> None:
    host = await start_host(db_url=db_url)
    response = await host.post(envelope("user.profile_updated", {"uid": "t", "name": "x"}, occurred_at=occurred_at))
    assert response.status == 422, await response.text()
    assert (await response.json())["error"]["field"] == "occurred_at"
    assert await processed(host) == 0


async def test_a_clock_running_ahead_by_less_than_the_tolerance_is_fine_and_pins_nothing_for_long(
    start_host: Callable[..., Any]
) -> None:
    host = await start_host("[events]\ntolerance = 60\n")
    ahead = datetime.now(UTC) + timedelta(seconds=30)
    await host.send("user.profile_updated", {"uid": "t", "name": "from a fast clock"}, occurred_at=ahead)
    refused = await host.post(envelope("user.profile_updated", {"uid": "t", "name": "from a broken clock"},
                                       occurred_at=datetime.now(UTC) + timedelta(seconds=600)))
    assert refused.status == 422
    assert (await customer(host, "t")).name == "from a fast clock"


async def test_data_nested_past_the_limit_is_a_422(start_host: Callable[..., Any], db_url: str) -> None:
    host = await start_host(db_url=db_url)
    deep: Any = "bottom"
    for _ in range(300):  # orjson reads 1,024 levels but writes 254: storing this payload failed after validation
        deep = {"next": deep}
    payload = envelope("user.profile_updated", {"uid": "d", "attributes": {"tree": deep}})
    body = json.dumps(payload).encode()  # orjson, the tests' encoder too, refuses to write it
    headers = {**sign(SECRET, payload["id"], body), "Content-Type": "application/json"}
    response = await host.client.post("/api/events", data=body, headers=headers)
    assert response.status == 422, await response.text()
    error = (await response.json())["error"]
    assert error["field"].startswith("data.attributes.tree.next") and "nests deeper" in error["message"]
    assert await processed(host) == 0


async def test_a_full_events_lane_answers_503_store_busy_and_chat_keeps_going(
    start_host: Callable[..., Any], db_url: str
) -> None:
    """Two events may wait for the writer: with one stuck on a lock and two queued, a flood of twenty more is
    refused at once with 503 ``store_busy`` and ``Retry-After`` (nothing of them stored), while on PostgreSQL a
    visitor's messages are still acked (chat writes on a connection of their own). Once the lock goes the queued
    events are stored, and the refused ones, sent again, are accepted: nothing is lost."""
    host = await start_host(db_url=db_url, environ={
        "KEFU_DATABASE__EVENTS_QUEUE_LIMIT": "2", "KEFU_DATABASE__SQLITE_BUSY_TIMEOUT": "120",
    })
    writer = host.app[STORE].writer
    events = [envelope("user.login", {"uid": f"u{n}"}) for n in range(23)]
    visitor = await host.visitor()
    await visitor.say("before")
    async with asyncio.timeout(20):  # and its routing was written (after the ack)
        while writer.pending() or writer.in_flight() or not await routed(host):
            await asyncio.sleep(0.01)
    async with holding_writes(db_url, "processed_events"):
        stuck = asyncio.create_task(host.post(events[0]))
        await until(lambda: writer.in_flight("events") == 1 and writer.pending("events") == 0)
        queued = [asyncio.create_task(host.post(e)) for e in events[1:3]]
        await until(lambda: writer.pending("events") == 2)
        flood = await asyncio.gather(*(host.post(e) for e in events[3:]))
        assert [r.status for r in flood] == [503] * 20
        assert {r.headers["Retry-After"] for r in flood} == {"1"}
        assert {(await r.json())["error"]["code"] for r in flood} == {"store_busy"}
        counted = await scrape(host.client)
        assert counted.value("kefu_events_refused_total", reason="store_busy") == 20
        assert counted.value("kefu_events_refused_total", reason="store_unavailable") == 0
        assert counted.value("kefu_store_refused_writes_total", lane="events") == 20
        assert counted.value("kefu_store_refused_writes_total", lane="chat") == 0
        if host.app[STORE].dialect == "postgresql":
            for n in range(3):
                ack = await visitor.say(f"while events wait {n}")
                assert ack["seq"] == 2 + n and not ack["duplicate"]
        assert not stuck.done() and not any(t.done() for t in queued)
    answers = [await t for t in (stuck, *queued)]
    assert [a.status for a in answers] == [200] * 3
    again = [await host.post(e) for e in events[3:]]  # one at a time: the lane still holds two
    assert [(await r.json())["status"] for r in again] == ["accepted"] * 20
    assert await stored_events(host) == 23


async def routed(host: Any) -> bool:
    async with host.app[STORE].read() as conn:
        return bool((await conn.execute(select(func.count()).select_from(RoutingDecision))).scalar_one())
