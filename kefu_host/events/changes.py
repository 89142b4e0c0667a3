"""What an event does to a customer, worked out without touching the database.

An event type describes its effect as a :class:`CustomerChange`; :func:`merge` turns it, and the customer's current
row, into the column updates. Profile fields and attribute keys remember the time of the event that set them
(``customers.field_times``), so an event older than a value's event leaves that value alone and events may arrive in
any order. An LTV change adds up, so its order does not matter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from kefu_host.chat.values import CustomerView
from kefu_host.events.validation import InvalidEvent

#: Columns an event may set, each guarded by its field time.
GUARDED = ("name", "email", "phone", "avatar_url", "vip_level", "last_login_at", "last_ip", "last_user_agent")
#: The largest amount one event may carry, in its own currency and in the base currency (``events.currency``).
MAX_AMOUNT = Decimal(10**12)
#: A customer's lifetime value stays within plus or minus this, in the base currency: minor units of it fit the
#: 64-bit ``ltv_cents`` column with room to spare. An order that would take the LTV past it is refused.
MAX_LTV = 10**15
MAX_LTV_CENTS = MAX_LTV * 100


@dataclass(frozen=True)
class CustomerChange:
    values: Mapping[str, Any] = field(default_factory=dict)
    #: attribute key -> value; None removes the key
    attributes: Mapping[str, Any] = field(default_factory=dict)
    #: minor units of the base currency added to the lifetime value
    ltv_delta: int = 0


def merge(row: Mapping[str, Any], change: CustomerChange, occurred_at: datetime) -> tuple[dict[str, Any], frozenset[str]]:
    """Column updates for ``row`` (a customer as a mapping) and the names of what visibly changed."""
    times = dict(row.get("field_times") or {})
    stamp = orjson.dumps(occurred_at)[1:-1].decode()  # what isoformat() gives, at a third of its cost
    updates: dict[str, Any] = {}
    changed: set[str] = set()
    for name, value in change.values.items():
        if _newer(times.get(name), occurred_at):
            times[name] = stamp
            if row.get(name) != value:
                updates[name] = value
                changed.add(name)
    if change.attributes:
        merged = dict(row.get("attributes") or {})
        for key, value in change.attributes.items():
            if _newer(times.get(f"attributes.{key}"), occurred_at):
                times[f"attributes.{key}"] = stamp
                before = merged.get(key)
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
                if merged.get(key) != before:
                    changed.add(f"attributes.{key}")
        if merged != (row.get("attributes") or {}):
            updates["attributes"] = merged
    if times != (row.get("field_times") or {}):
        updates["field_times"] = times
    if change.ltv_delta:
        ltv = int(row.get("ltv_cents") or 0) + change.ltv_delta
        if abs(ltv) > MAX_LTV_CENTS:
            raise InvalidEvent("data.amount", f"would take the customer's lifetime value past {MAX_LTV} "
                               f"(it is {int(row.get('ltv_cents') or 0) / 100:.2f})")
        updates["ltv_cents"] = ltv
        changed.add("ltv")
    return updates, frozenset(changed)


def to_cents(amount: Any, currency: str, base: str, rates: Mapping[str, float]) -> int:
    """An amount in ``currency`` as minor units of the base currency; at most :data:`MAX_AMOUNT` in either."""
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        raise InvalidEvent("data.amount", f"{amount!r} is not a number") from None
    if not value.is_finite() or abs(value) > MAX_AMOUNT:
        raise InvalidEvent("data.amount", f"must be at most {MAX_AMOUNT}")
    if currency.upper() != base.upper():
        rate = rates.get(currency.upper())
        if rate is None:
            raise InvalidEvent("data.currency", f"no exchange rate from {currency} to {base} (events.exchange_rates)")
        value *= Decimal(str(rate))
        if abs(value) > MAX_AMOUNT:
            raise InvalidEvent("data.amount", f"must be at most {MAX_AMOUNT} once converted to {base}")
    return int((value * 100).to_integral_value())


def customer_view(row: Mapping[str, Any]) -> CustomerView:
    get = row.get
    return CustomerView(  # positional, in field order: built for every event, and keywords cost a third more
        row["id"],
        get("uid"),
        get("name"),
        get("email"),
        get("phone"),
        get("avatar_url"),
        get("vip_level") or 0,
        get("ltv_cents") or 0,
        tuple(get("tags") or ()),
        dict(get("attributes") or {}),
        get("owner"),
    )


def _newer(previous: str | None, occurred_at: datetime) -> bool:
    if previous is None:
        return True
    before = datetime.fromisoformat(previous)
    if before.tzinfo is None:
        before = before.replace(tzinfo=UTC)
    return occurred_at >= before
