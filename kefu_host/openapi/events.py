"""Paths of signed business events (docs/events.md): the envelope of each event type the host accepts (the core
types and the plugins'), with its ``data`` schema."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kefu_host.events.types import EventType
from kefu_host.events.validation import MAX_ID
from kefu_host.openapi.components import SIGNED, Schema, errors, json_answer, json_body, obj, operation, ref

_SIGNING_HEADERS = [
    {"name": "webhook-id", "in": "header", "required": True, "schema": {"type": "string", "minLength": 1},
     "description": "the message id (the event id)"},
    {"name": "webhook-timestamp", "in": "header", "required": True, "schema": {"type": "string"},
     "description": "Unix seconds when it was sent (within `events.tolerance`)"},
]
_OCCURRED_AT = {"type": "string", "format": "date-time",
                "description": "when it happened: after 1970, at most `events.tolerance` seconds ahead of the host"}


def envelope(types: Iterable[EventType] | None) -> Schema:
    """One event; with ``types``, one alternative per type with that type's ``data`` schema."""
    common = {"id": {"type": "string", "minLength": 1, "maxLength": MAX_ID}, "occurred_at": _OCCURRED_AT}
    if types is None:
        return ref("EventEnvelope")
    choices: list[Schema] = []
    for event_type in sorted(types, key=lambda t: t.name):
        choice = obj(["id", "type", "occurred_at", "data"], **common, type={"const": event_type.name},
                     data=dict(event_type.schema))
        choice["additionalProperties"] = False
        if event_type.description:
            choice["description"] = event_type.description
        choices.append(choice)
    if len(choices) == 1:
        return choices[0]
    return {"oneOf": choices} if choices else ref("EventEnvelope")


def paths(types: Iterable[EventType] | None = None) -> dict[str, Schema]:
    """With ``types`` (the running host's), each event type's envelope; else a generic one."""
    types = list(types) if types is not None else None
    one: Any = envelope(types)
    return {
        "/api/events": {"post": operation(
            "One signed event", {"200": json_answer("stored (or a duplicate)", ref("EventOutcome")),
                                 **errors(400, 401, 413, 422, 503)},
            security=SIGNED, tags=["events"], parameters=_SIGNING_HEADERS, body=json_body(one))},
        "/api/events/batch": {"post": operation(
            "Up to `events.max_batch` signed events, stored together or not at all",
            {"200": json_answer("every event stored", obj(["results"], results={"type": "array",
                                                                                 "items": ref("EventOutcome")})),
             **errors(400, 401, 413, 422, 503)},
            security=SIGNED, tags=["events"], parameters=_SIGNING_HEADERS,
            body=json_body(obj(["events"], events={"type": "array", "minItems": 1, "items": one})))},
    }
