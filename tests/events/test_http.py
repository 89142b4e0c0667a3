"""POST /api/events: each answer the API promises, and nothing stored unless 2xx."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from kefu_host.keys import STORE
from kefu_host.store.models import Customer, ProcessedEvent
from kefu_host.testing.events import envelope, signed
from tests.events.conftest import OLD_SECRET, SECRET


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
