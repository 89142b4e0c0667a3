"""Paths of chat over HTTP: first-run setup, console sign-in, visitor sessions, conversations and attachments."""

from __future__ import annotations

from kefu_host.chat.passwords import MAX_LENGTH
from kefu_host.customers import PROFILE_LIMITS
from kefu_host.openapi.components import (
    AGENT,
    PUBLIC,
    READERS,
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

_INT32 = 2**31 - 1
_NAME = {"type": "string", "minLength": 1, "maxLength": 100}
_PASSWORD = {"type": "string", "minLength": 1, "maxLength": MAX_LENGTH}
_CONVERSATION = path_param("id", "conversation id")
_SIGNED_IN = json_answer("signed in; the session cookie is set", ref("AgentSession"),
                         {"Set-Cookie": {"schema": {"type": "string"}}})
_MESSAGE_ANSWER = obj(["message", "duplicate"], message=ref("Message"), duplicate={"type": "boolean"})


def paths() -> dict[str, Schema]:
    return {
        "/api/setup": {
            "get": operation(
                "Is the first-run setup needed",
                {"200": json_answer("no agent exists yet", obj(["required"], required={"const": True},
                                                               teams={"type": "array", "items": {"type": "string"}},
                                                               min_password_length={"type": "integer"})),
                 **errors(410)}, security=PUBLIC, tags=["console"]),
            "post": operation(
                "Create the first admin agent with the setup token from the host's log",
                {"201": _SIGNED_IN, **errors(400, 403, 410, 413, 422, 429, 503)}, security=PUBLIC,
                tags=["console"], body=json_body(obj(["token", "name", "password"],
                                                     token={"type": "string", "minLength": 1, "maxLength": 200},
                                                     name=_NAME, password=_PASSWORD))),
        },
        "/api/agent/login": {"post": operation(
            "Console sign-in with name and password",
            {"200": _SIGNED_IN, **errors(400, 401, 403, 413, 422, 429, 503)}, security=PUBLIC, tags=["console"],
            body=json_body(obj(["name", "password"], name=_NAME, password=_PASSWORD)))},
        "/api/agent/me": {"get": operation(
            "The signed-in agent, its teams and the CSRF token", {"200": json_answer("signed in",
                                                                                    ref("AgentSession")),
                                                                 **errors(401, 403, 429)},
            security=AGENT, tags=["console"])},
        "/api/agent/logout": {"post": operation(
            "End the console session", {"204": {"description": "signed out; the cookie is cleared"},
                                        **errors(400, 401, 403, 429)},
            security=AGENT, tags=["console"])},
        "/api/visitor/sessions": {"post": operation(
            "A visitor token: anonymous, or a verified user id (`user_id` + `user_hash`)",
            {"201": json_answer("the token", obj(["token", "visitor_id", "customer_id", "ws_url"],
                                                 token={"type": "string"}, visitor_id={"type": "string"},
                                                 customer_id={"type": "integer"}, ws_url={"type": "string"})),
             **errors(400, 403, 413, 422, 429, 503)},
            security=[{}, {"visitorToken": []}], tags=["chat"],
            body=json_body(obj(user_id={"type": "string", "minLength": 1, "maxLength": 191},
                               user_hash={"type": "string"},
                               **{name: {"type": ["string", "null"], "maxLength": limit}
                                  for name, limit in PROFILE_LIMITS.items()}), required=False))},
        "/api/conversations/{id}": {"get": operation(
            "A conversation, its routing decisions and its rating",
            {"200": json_answer("the conversation", obj(["conversation", "decisions"], conversation=ref(
                "Conversation"), decisions={"type": "array", "items": {"type": "object"}},
                rating={"type": ["object", "null"]}, rate_until={"type": ["string", "null"]})),
             **errors(400, 401, 403, 404, 429)}, security=READERS, tags=["chat"], parameters=[_CONVERSATION])},
        "/api/conversations/{id}/messages": {"get": operation(
            "Stored messages in seq order (agents' notes only for agents and admins)",
            {"200": json_answer("one page", obj(["conversation_id", "messages", "more"],
                                                conversation_id={"type": "integer"},
                                                messages={"type": "array", "items": ref("Message")},
                                                more={"type": "boolean"})),
             **errors(400, 401, 403, 404, 429)}, security=READERS, tags=["chat"], parameters=[
                _CONVERSATION,
                query_param("after_seq", "messages after this seq", {"type": "integer", "minimum": -2**31,
                                                                     "maximum": _INT32}),
                query_param("before_seq", "messages before this seq (older history)",
                            {"type": "integer", "minimum": 1, "maximum": _INT32}),
                query_param("limit", "page size (at most 500 are returned)",
                            {"type": "integer", "minimum": 1, "maximum": _INT32})])},
        "/api/conversations/{id}/explain": {"get": operation(
            "What the active rules would decide for it now, rule by rule (its agent, admins)",
            {"200": json_answer("the explanation", ref("Explanation")), **errors(400, 401, 403, 404, 429, 503)},
            security=READERS[:-1], tags=["chat"], parameters=[_CONVERSATION])},
        "/api/conversations/{id}/attachments": {"post": operation(
            "Upload a file into the conversation (its visitor, or the agent holding it)",
            {"201": json_answer("stored as an attachment message", _MESSAGE_ANSWER),
             "200": json_answer("a resend of a stored upload (same client_msg_id)", _MESSAGE_ANSWER),
             **errors(400, 401, 403, 404, 409, 413, 415, 429, 503)}, security=READERS, tags=["chat"],
            parameters=[_CONVERSATION],
            body={"required": True, "content": {"multipart/form-data": {"schema": obj(
                ["client_msg_id", "file"], client_msg_id={"type": "string", "minLength": 1},
                file={"type": "string", "contentMediaType": "application/octet-stream"}),
                "encoding": {"file": {"contentType": "application/octet-stream"}}}}})},
        "/api/conversations/{id}/attachments/{message_id}": {"get": operation(
            "Download an attachment (whoever may read the conversation)",
            {"200": {"description": "the file (`Content-Disposition`; images inline)",
                     "content": {"*/*": {"schema": {"type": "string"}}}},
             **errors(400, 401, 403, 404, 429)}, security=READERS, tags=["chat"],
            parameters=[_CONVERSATION, path_param("message_id", "the attachment message's id")])},
    }
