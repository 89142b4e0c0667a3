"""Paths of signed business events (docs/events.md)."""

from __future__ import annotations

from kefu_host.openapi.components import SIGNED, Schema, errors, json_answer, json_body, obj, operation, ref

_SIGNING_HEADERS = [
    {"name": "webhook-id", "in": "header", "required": True, "schema": {"type": "string"},
     "description": "the message id (the event id)"},
    {"name": "webhook-timestamp", "in": "header", "required": True, "schema": {"type": "string"},
     "description": "Unix seconds when it was sent (within `events.tolerance`)"},
]


def paths() -> dict[str, Schema]:
    return {
        "/api/events": {"post": operation(
            "One signed event", {"200": json_answer("stored (or a duplicate)", ref("EventOutcome")),
                                 **errors(400, 401, 413, 422, 503)},
            security=SIGNED, tags=["events"], parameters=_SIGNING_HEADERS, body=json_body(ref("EventEnvelope")))},
        "/api/events/batch": {"post": operation(
            "Up to `events.max_batch` signed events, stored together or not at all",
            {"200": json_answer("every event stored", obj(["results"], results={"type": "array",
                                                                                 "items": ref("EventOutcome")})),
             **errors(400, 401, 413, 422, 503)},
            security=SIGNED, tags=["events"], parameters=_SIGNING_HEADERS,
            body=json_body(obj(["events"], events={"type": "array", "minItems": 1,
                                                   "items": ref("EventEnvelope")})))},
    }
