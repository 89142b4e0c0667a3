"""How events change a customer, inside the transaction that records the event.

Profile fields remember the time of the event that set them (``customers.field_times``): an event older than the
value's event is ignored for that field, so events may arrive in any order. LTV changes add up, so their order does
not matter; each order event counts once because the event id is recorded in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kefu_host.events.validation import InvalidEvent
from kefu_host.store.models import Customer, utcnow

PROFILE_FIELDS = ("name", "email", "phone", "avatar_url")


async def set_fields(
    conn: AsyncConnection, customer_id: int, occurred_at: datetime, values: Mapping[str, Any],
    attributes: Mapping[str, Any] | None = None,
) -> frozenset[str]:
    """Set ``values`` (columns) and ``attributes`` (keys; None deletes) unless a newer event already set them."""
    query = select(Customer).where(Customer.id == customer_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).one()
    times = dict(row.field_times or {})
    stamp = occurred_at.isoformat()
    updates: dict[str, Any] = {}
    changed: set[str] = set()
    for name, value in values.items():
        if _newer(times.get(name), occurred_at):
            times[name] = stamp
            if getattr(row, name) != value:
                updates[name] = value
                changed.add(name)
    if attributes:
        merged = dict(row.attributes or {})
        for key, value in attributes.items():
            if _newer(times.get(f"attributes.{key}"), occurred_at):
                times[f"attributes.{key}"] = stamp
                before = merged.get(key)
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
                if merged.get(key) != before:
                    changed.add(f"attributes.{key}")
        if merged != (row.attributes or {}):
            updates["attributes"] = merged
    if times != (row.field_times or {}):
        await conn.execute(
            update(Customer).where(Customer.id == customer_id).values(**updates, field_times=times, updated_at=utcnow())
        )
    return frozenset(changed)


async def add_ltv(conn: AsyncConnection, customer_id: int, cents: int) -> frozenset[str]:
    if cents == 0:
        return frozenset()
    await conn.execute(
        update(Customer)
        .where(Customer.id == customer_id)
        .values(ltv_cents=Customer.ltv_cents + cents, updated_at=utcnow())
    )
    return frozenset({"ltv"})


def to_cents(amount: Any, currency: str, base: str, rates: Mapping[str, float]) -> int:
    """An amount in ``currency`` as minor units of the base currency."""
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        raise InvalidEvent("data.amount", f"{amount!r} is not a number") from None
    if currency.upper() != base.upper():
        rate = rates.get(currency.upper())
        if rate is None:
            raise InvalidEvent("data.currency", f"no exchange rate from {currency} to {base} (events.exchange_rates)")
        value *= Decimal(str(rate))
    return int((value * 100).to_integral_value())


def _newer(previous: str | None, occurred_at: datetime) -> bool:
    return previous is None or occurred_at >= datetime.fromisoformat(previous)
