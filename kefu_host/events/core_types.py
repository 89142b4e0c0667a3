"""The event types every host accepts: logins, profile changes, paid and refunded orders."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from kefu_host.config import EventsConfig
from kefu_host.events.customer_updates import PROFILE_FIELDS, add_ltv, set_fields, to_cents
from kefu_host.events.types import Event, EventType

_UID = {"type": "string", "minLength": 1, "maxLength": 191}
_AMOUNT = {"anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": r"^\d+(\.\d+)?$"}]}
_CURRENCY = {"type": "string", "pattern": "^[A-Za-z]{3}$"}


def core_event_types(config: EventsConfig) -> list[EventType]:
    async def login(conn: AsyncConnection, event: Event, customer_id: int | None) -> frozenset[str]:
        assert customer_id is not None
        data = event.data
        values: dict[str, Any] = {"last_login_at": event.occurred_at}
        if "ip" in data:
            values["last_ip"] = data["ip"]
        if "user_agent" in data:
            values["last_user_agent"] = data["user_agent"]
        vip = data.get("extra", {}).get("vip_level")
        if vip is not None:
            values["vip_level"] = vip
        return await set_fields(conn, customer_id, event.occurred_at, values)

    async def profile(conn: AsyncConnection, event: Event, customer_id: int | None) -> frozenset[str]:
        assert customer_id is not None
        data = event.data
        values = {name: data[name] for name in PROFILE_FIELDS if name in data}
        if "avatar" in data:
            values["avatar_url"] = data["avatar"]
        return await set_fields(conn, customer_id, event.occurred_at, values, data.get("attributes"))

    def order(sign: int) -> Any:
        async def apply(conn: AsyncConnection, event: Event, customer_id: int | None) -> frozenset[str]:
            assert customer_id is not None
            cents = to_cents(event.data["amount"], event.data["currency"], config.currency, config.exchange_rates)
            return await add_ltv(conn, customer_id, sign * cents)

        return apply

    order_schema = {
        "type": "object",
        "required": ["uid", "order_id", "amount", "currency"],
        "properties": {"uid": _UID, "order_id": {"type": "string", "minLength": 1}, "amount": _AMOUNT,
                       "currency": _CURRENCY},
    }
    return [
        EventType(
            "user.login",
            {
                "type": "object",
                "required": ["uid"],
                "properties": {
                    "uid": _UID,
                    "ip": {"type": "string", "maxLength": 64},
                    "user_agent": {"type": "string", "maxLength": 512},
                    "extra": {"type": "object", "properties": {"vip_level": {"type": "integer", "minimum": 0}}},
                },
            },
            "a user logged in to the business system; extra.vip_level updates the VIP level",
            apply=login,
        ),
        EventType(
            "user.profile_updated",
            {
                "type": "object",
                "required": ["uid"],
                "properties": {
                    "uid": _UID,
                    "name": {"type": "string", "maxLength": 255},
                    "email": {"type": "string", "maxLength": 255},
                    "phone": {"type": "string", "maxLength": 64},
                    "avatar": {"type": "string", "maxLength": 1024},
                    "avatar_url": {"type": "string", "maxLength": 1024},
                    "attributes": {"type": "object"},
                },
                "additionalProperties": False,
            },
            "profile fields and custom attributes changed (an attribute set to null is removed)",
            apply=profile,
        ),
        EventType("order.paid", order_schema, "an order was paid: adds to the customer's LTV", apply=order(+1)),
        EventType("order.refunded", order_schema, "an order was refunded: subtracts from the LTV", apply=order(-1)),
    ]
