"""The event types every host accepts: logins, profile changes, paid and refunded orders."""

from __future__ import annotations

from typing import Any

from kefu_host.config import EventsConfig
from kefu_host.events.changes import MAX_AMOUNT, CustomerChange, to_cents
from kefu_host.events.types import Event, EventType
from kefu_host.inputs import INT32_MAX

_UID = {"type": "string", "minLength": 1, "maxLength": 191}
#: A decimal string's size is checked by :func:`~kefu_host.events.changes.to_cents`, after any conversion.
_AMOUNT = {"anyOf": [{"type": "number", "minimum": 0, "maximum": int(MAX_AMOUNT)},
                     {"type": "string", "pattern": r"^\d+(\.\d+)?$"}]}
_CURRENCY = {"type": "string", "pattern": "^[A-Za-z]{3}$"}
PROFILE_FIELDS = ("name", "email", "phone", "avatar_url")


def login(event: Event) -> CustomerChange:
    data = event.data
    values: dict[str, Any] = {"last_login_at": event.occurred_at}
    if "ip" in data:
        values["last_ip"] = data["ip"]
    if "user_agent" in data:
        values["last_user_agent"] = data["user_agent"]
    vip = data.get("extra", {}).get("vip_level")
    if vip is not None:
        values["vip_level"] = int(vip)  # the schema let through an integer, maybe written 2.0
    return CustomerChange(values=values)


def profile(event: Event) -> CustomerChange:
    data = event.data
    values = {name: data[name] for name in PROFILE_FIELDS if name in data}
    if "avatar" in data:
        values["avatar_url"] = data["avatar"]
    return CustomerChange(values=values, attributes=data.get("attributes") or {})


def core_event_types(config: EventsConfig) -> list[EventType]:
    def order(sign: int) -> Any:
        def change(event: Event) -> CustomerChange:
            data = event.data
            return CustomerChange(ltv_delta=sign * to_cents(data["amount"], data["currency"], config.currency,
                                                            config.exchange_rates))

        return change

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
                    "extra": {"type": "object", "properties": {
                        "vip_level": {"type": "integer", "minimum": 0, "maximum": INT32_MAX}}},
                },
            },
            "a user logged in to the business system; extra.vip_level updates the VIP level",
            change=login,
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
            change=profile,
        ),
        EventType("order.paid", order_schema, "an order was paid: adds to the customer's LTV", change=order(+1)),
        EventType("order.refunded", order_schema, "an order was refunded: subtracts from the LTV", change=order(-1)),
    ]
