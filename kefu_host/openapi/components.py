"""The shared parts of the OpenAPI document: the error shape, the ways to authenticate, and small builders the
per-area path modules use so every operation is written the same way."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kefu_host.chat.cookies import COOKIE, CSRF_HEADER

Schema = dict[str, Any]

#: What each refusal status means, for the description of its response.
STATUS_TEXT = {
    400: "Malformed input (the error names the field)",
    401: "Missing or wrong credential",
    403: "Credential valid but not allowed",
    404: "Nothing here (or nothing you may read)",
    405: "Method not allowed",
    409: "Conflict with the current state",
    410: "Gone",
    413: "Body too large",
    415: "Unsupported media type",
    422: "Well-formed but invalid input (the error names the field)",
    429: "Too many failed authentications or messages; see Retry-After",
    503: "Not ready or the store is unavailable; retry later",
}

ERROR: Schema = {
    "type": "object",
    "description": "Every refusal on every endpoint. `field` names the input that was wrong, when one was.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "machine-readable, e.g. `invalid_body`"},
                "message": {"type": "string", "description": "one line for people"},
                "field": {"type": ["string", "null"]},
                "retry_after": {"type": "number"},
                "errors": {"type": "array", "items": {"type": "object"}},
            },
        }
    },
}

SECURITY_SCHEMES: Schema = {
    "adminToken": {"type": "http", "scheme": "bearer",
                   "description": "`secrets.admin_token` (`Authorization: Bearer ...`)."},
    "agentToken": {"type": "http", "scheme": "bearer",
                   "description": "An agent's `kfa_` token from `kefu-host agents add` or `rotate-token`."},
    "visitorToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                     "description": "A visitor token from `POST /api/visitor/sessions` (or `?token=`)."},
    "sessionCookie": {"type": "apiKey", "in": "cookie", "name": COOKIE,
                      "description": "The console session (`__Host-kefu_session` over https), set by "
                                     "`POST /api/agent/login`."},
    "csrfHeader": {"type": "apiKey", "in": "header", "name": CSRF_HEADER,
                   "description": "The session's CSRF token; every POST signed by the session cookie needs it."},
    "eventSignature": {"type": "apiKey", "in": "header", "name": "webhook-signature",
                       "description": "`v1,<base64 HMAC-SHA256 of id.timestamp.body>` with `webhook-id` and "
                                      "`webhook-timestamp` (the Standard Webhooks scheme, docs/events.md)."},
}

#: Who may call an admin endpoint: the admin token, or an admin agent (token, or session with CSRF).
ADMIN: list[dict[str, list[str]]] = [
    {"adminToken": []}, {"agentToken": []}, {"sessionCookie": [], "csrfHeader": []}]
#: Who may read a conversation: admins, agents of its team, its visitor.
READERS: list[dict[str, list[str]]] = [*ADMIN, {"visitorToken": []}]
#: A console agent (its token or its session).
AGENT: list[dict[str, list[str]]] = [{"agentToken": []}, {"sessionCookie": [], "csrfHeader": []}]
SIGNED: list[dict[str, list[str]]] = [{"eventSignature": []}]
PUBLIC: list[dict[str, list[str]]] = []


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: Iterable[str] = (), /, **properties: Schema) -> Schema:
    """An object schema; unlisted properties are allowed (answers may grow)."""
    schema: Schema = {"type": "object", "properties": dict(properties)}
    if required := list(required):
        schema["required"] = required
    return schema


def json_body(schema: Schema, *, required: bool = True, example: Any = None) -> Schema:
    media: Schema = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"required": required, "content": {"application/json": media}}


def json_answer(description: str, schema: Schema, headers: Mapping[str, Schema] | None = None) -> Schema:
    answer: Schema = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        answer["headers"] = dict(headers)
    return answer


def errors(*statuses: int) -> dict[str, Schema]:
    """The error responses for ``statuses``; 429 carries Retry-After."""
    out: dict[str, Schema] = {}
    for status in statuses:
        headers = {"Retry-After": {"schema": {"type": "string"}}} if status in (429, 503) else None
        out[str(status)] = json_answer(STATUS_TEXT[status], ref("Error"), headers)
    return out


def operation(
    summary: str,
    responses: Mapping[str, Schema],
    *,
    security: list[dict[str, list[str]]] | None = None,
    parameters: list[Schema] | None = None,
    body: Schema | None = None,
    tags: Iterable[str] = (),
    description: str | None = None,
) -> Schema:
    op: Schema = {"summary": summary, "responses": dict(responses)}
    if description:
        op["description"] = description
    if tags := list(tags):
        op["tags"] = tags
    if security is not None:
        op["security"] = security
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = body
    return op


def path_param(name: str, description: str, *, maximum: int = 2**63 - 1) -> Schema:
    return {"name": name, "in": "path", "required": True, "description": description, "example": 1,
            "schema": {"type": "integer", "minimum": 1, "maximum": maximum}}


def query_param(name: str, description: str, schema: Schema, *, required: bool = False) -> Schema:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


def html_answer(description: str) -> Schema:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


SCHEMAS: dict[str, Schema] = {
    "Error": ERROR,
    "Health": obj(["status"], status={"type": "string", "enum": ["alive", "ready", "starting", "draining",
                                                                  "degraded"]},
                  checks={"type": "object", "additionalProperties": {"type": "boolean"}}),
    "Customer": obj(["id"], id={"type": "integer"}, uid={"type": ["string", "null"]},
                    name={"type": ["string", "null"]}, email={"type": ["string", "null"]},
                    phone={"type": ["string", "null"]}, avatar_url={"type": ["string", "null"]},
                    vip_level={"type": "integer"}, ltv={"type": ["number", "null"]},
                    tags={"type": "array", "items": {"type": "string"}}, attributes={"type": "object"},
                    owner={"type": ["string", "null"]}),
    "CannedReply": obj(["id", "scope", "team", "shortcut", "body", "updated_at"], id={"type": "integer"},
                       scope={"type": "string", "enum": ["personal", "team"]},
                       team={"type": ["string", "null"], "description": "null for a personal reply"},
                       shortcut={"type": "string"}, body={"type": "string"}, updated_at={"type": "string"}),
    "Conversation": obj(["id", "customer_id", "status", "team"], id={"type": "integer"},
                        customer_id={"type": "integer"}, status={"type": "string"}, team={"type": "string"},
                        agent_id={"type": ["integer", "null"]}, priority={"type": ["string", "integer", "null"]},
                        last_seq={"type": "integer"}, tags={"type": "array", "items": {"type": "string"}}),
    "Message": obj(["type", "conversation_id", "seq", "id", "sender", "kind", "body", "created_at"],
                   type={"const": "message"}, conversation_id={"type": "integer"}, seq={"type": "integer"},
                   id={"type": "integer"}, sender={"type": "string"}, sender_id={"type": ["integer", "string",
                                                                                          "null"]},
                   client_msg_id={"type": ["string", "null"]},
                   kind={"type": "string", "enum": ["text", "note", "attachment"]}, body={"type": "string"},
                   created_at={"type": "string"}, attachment={"type": "object"}),
    "Agent": obj(["id", "name"], id={"type": "integer"}, name={"type": "string"},
                 teams={"type": "array", "items": {"type": "string"}}, is_admin={"type": "boolean"}),
    "AgentSession": obj(["agent", "auth"], agent=ref("Agent"),
                        auth={"type": "string", "enum": ["session", "token"]},
                        csrf_token={"type": ["string", "null"]}, expires_at={"type": ["string", "null"]},
                        idle_timeout={"type": "number"}),
    "Explanation": obj(["revision", "rules", "decision"], revision={"type": "string"}, facts={"type": "object"},
                       rules={"type": "array", "items": {"type": "object"}}, decision={"type": "object"}),
    "EventEnvelope": obj(["id", "type", "occurred_at", "data"], id={"type": "string", "minLength": 1},
                         type={"type": "string"}, occurred_at={"type": "string"}, data={"type": "object"}),
    "EventOutcome": obj(["id", "status"], id={"type": "string"}, status={"type": "string"}),
}


def components() -> Schema:
    return {"schemas": SCHEMAS, "securitySchemes": SECURITY_SCHEMES}
