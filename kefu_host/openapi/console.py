"""Paths the agent console reads beside its socket: canned replies, transfer targets and a customer's panel."""

from __future__ import annotations

from kefu_host.chat.canned import MAX_LISTED, MAX_SHORTCUT
from kefu_host.chat.canned_api import MAX_BODY
from kefu_host.chat.protocol import MAX_BODY_CHARS
from kefu_host.customers_api import DEFAULT_EVENTS, MAX_EVENTS
from kefu_host.openapi.components import (
    AGENT,
    Schema,
    errors,
    json_answer,
    json_body,
    obj,
    operation,
    path_param,
    query_param,
    ref,
)

#: An agent (its token, or its session: with CSRF for a change) or the admin token.
AGENT_OR_ADMIN: list[dict[str, list[str]]] = [{"adminToken": []}, *AGENT]

# Python's ``\w`` (letters and digits of any script) has no portable JSON Schema pattern: said in words.
_SHORTCUT: Schema = {"type": "string", "minLength": 1, "maxLength": MAX_SHORTCUT,
                     "description": f"one word of 1 to {MAX_SHORTCUT} letters (any script), digits, `_`, `-` "
                                    "or `.`"}
_TEXT: Schema = {"type": "string", "minLength": 1, "maxLength": MAX_BODY_CHARS,
                 "description": f"the reply's text, not blank (at most {MAX_BODY_CHARS} characters)"}
_LIMIT = f"a body over {MAX_BODY // 1024} KiB is refused with 413"
_REPLY_ID = path_param("id", "canned reply id")
_ONE_REPLY = obj(["reply"], reply=ref("CannedReply"))


def _closed(schema: Schema) -> Schema:
    """``schema`` without other properties: the canned replies' bodies refuse unknown fields (422)."""
    return {**schema, "additionalProperties": False}


def paths() -> dict[str, Schema]:
    return {
        "/api/agent/targets": {"get": operation(
            "Where a conversation may be transferred: the teams, and the other agents with a console open",
            {"200": json_answer("teams with their agents online; agents online or away, by name", obj(
                ["teams", "agents"],
                teams={"type": "array", "items": obj(["name", "agents_online"], name={"type": "string"},
                                                     agents_online={"type": "integer", "minimum": 0})},
                agents={"type": "array", "items": obj(
                    ["name", "teams", "presence", "free"], name={"type": "string"},
                    teams={"type": "array", "items": {"type": "string"}},
                    presence={"type": "string", "enum": ["online", "away"]},
                    free={"type": "integer", "description": "how many more conversations it may hold"})})),
             **errors(401, 403, 429)}, security=AGENT_OR_ADMIN, tags=["console"])},
        "/api/canned": {
            "get": operation(
                f"The caller's personal canned replies, then its teams' (admins: every team's), at most "
                f"{MAX_LISTED}",
                {"200": json_answer("the replies", obj(["replies"], replies={
                    "type": "array", "maxItems": MAX_LISTED, "items": ref("CannedReply")})),
                 **errors(401, 403, 429)}, security=AGENT_OR_ADMIN, tags=["console"]),
            "post": operation(
                "A personal canned reply, or with `team` one of the team's (its agents and admins)",
                {"201": json_answer("created", _ONE_REPLY), **errors(400, 401, 403, 413, 422, 429, 503)},
                security=AGENT_OR_ADMIN, tags=["console"], description=(
                    f"403 `not_in_team` for a team the agent is not in; 422 for a personal reply asked with the "
                    f"admin token, a `team` not in `chat.teams` or an unknown field; {_LIMIT}."),
                body=json_body(_closed(obj(["shortcut", "body"], shortcut=_SHORTCUT, body=_TEXT, team={
                    "type": ["string", "null"], "description": "one of `chat.teams`; absent or null: personal"})),
                    example={"shortcut": "hello", "body": "Hello! How can I help you?", "team": "support"})),
        },
        "/api/canned/{id}": {
            "put": operation(
                "Change a canned reply's shortcut or text (it stays personal or its team's)",
                {"200": json_answer("changed", _ONE_REPLY), **errors(400, 401, 403, 404, 413, 422, 429, 503)},
                security=AGENT_OR_ADMIN, tags=["console"], parameters=[_REPLY_ID], description=(
                    "404 for a reply that does not exist and for one the caller may not manage alike; a null "
                    f"field is left as it is, and at least one of them must be given (else 422); {_LIMIT}."),
                body=json_body(_closed({**obj(shortcut={**_SHORTCUT, "type": ["string", "null"]},
                                              body={**_TEXT, "type": ["string", "null"]}), "minProperties": 1}),
                               example={"body": "Hello! What can I do for you?"})),
            "delete": operation(
                "Delete a canned reply",
                {"204": {"description": "deleted"}, **errors(400, 401, 403, 404, 429, 503)},
                security=AGENT_OR_ADMIN, tags=["console"], parameters=[_REPLY_ID]),
        },
        "/api/customers/{id}": {"get": operation(
            "A customer and its recent business events, newest first (admins: any customer; an agent: those of "
            "conversations it holds or its teams have)",
            {"200": json_answer("the customer", obj(["customer", "events"], customer=ref("Customer"), events={
                "type": "array", "maxItems": MAX_EVENTS, "items": obj(
                    ["id", "type", "occurred_at", "source", "data"], id={"type": "string"},
                    type={"type": "string"}, occurred_at={"type": "string"}, source={"type": "string"},
                    data={"type": "object"})})),
             **errors(400, 401, 403, 404, 429)}, security=AGENT_OR_ADMIN, tags=["console"], parameters=[
                path_param("id", "customer id"),
                query_param("events", f"how many recent events (default {DEFAULT_EVENTS})",
                            {"type": "integer", "minimum": 0, "maximum": MAX_EVENTS})])},
    }
