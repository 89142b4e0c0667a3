"""Paths of the host itself: health, metrics, the plugins, this document, the pages and the chat sockets."""

from __future__ import annotations

from kefu_host.openapi.components import (
    ADMIN,
    AGENT,
    PUBLIC,
    Schema,
    errors,
    html_answer,
    json_answer,
    obj,
    operation,
    query_param,
    ref,
)

_STATIC: Schema = {"description": "The file (ETag; 304 when `If-None-Match` is current)",
                   "content": {"*/*": {"schema": {"type": "string"}}}}
_NOT_MODIFIED: Schema = {"description": "The browser's copy is current"}
_SWITCHING: Schema = {"description": "Switching to the WebSocket protocol (docs/protocol.md)"}
_LAST_SEQ = query_param("last_seq", "resume after this seq", {"type": "integer", "minimum": 0})
_PLUGINS = {"type": "array", "items": {"type": "object"}}
_NAMES = {"type": "array", "items": {"type": "string"}}
_TOKEN = query_param("token", "the credential, for browsers that cannot set headers", {"type": "string"})


def paths() -> dict[str, Schema]:
    return {
        "/livez": {"get": operation(
            "The process runs", {"200": json_answer("alive", ref("Health"))}, security=PUBLIC, tags=["health"])},
        "/readyz": {"get": operation(
            "Ready for traffic", {"200": json_answer("ready", ref("Health")),
                                  "503": json_answer("starting, draining or a check failed", ref("Health"))},
            security=PUBLIC, tags=["health"])},
        "/api/openapi.json": {"get": operation(
            "This document", {"200": json_answer("OpenAPI 3.1", {"type": "object"})}, security=PUBLIC,
            tags=["meta"])},
        "/api/plugins": {"get": operation(
            "Plugins, their hooks, status and failures",
            {"200": json_answer("every plugin the host considered",
                                {"type": "object", "required": ["plugins"],
                                 "properties": {"plugins": _PLUGINS}}),
             **errors(401, 403, 429)}, security=ADMIN, tags=["admin"])},
        "/api/plugins/reload": {"post": operation(
            "Read the config file again and apply `[plugins.NAME] enabled` (nothing else)",
            {"200": json_answer("what changed, and every plugin", obj(
                ["enabled", "disabled", "restart_needed", "plugins"], enabled=_NAMES, disabled=_NAMES,
                restart_needed={**_NAMES, "description": "turned on, but off at startup: takes a restart"},
                plugins=_PLUGINS)),
             "422": json_answer("`invalid_config`: the file does not load (or the host has none); nothing changes",
                                ref("Error")),
             **errors(401, 403, 429)}, security=ADMIN, tags=["admin"])},
        "/metrics": {"get": operation(
            "Prometheus metrics of this node (docs/metrics.md); on the main listener unless `metrics.port` is set",
            {"200": {"description": "the text exposition format, every series labelled with `node`",
                     "content": {"text/plain": {"schema": {"type": "string"}}}},
             **errors(401, 403, 429)}, security=ADMIN, tags=["admin"])},
        "/": {"get": operation("The agent console", {"200": html_answer("the console page")}, security=PUBLIC,
                               tags=["pages"])},
        "/setup": {"get": operation("The console (its setup form while no agent exists)",
                                    {"200": html_answer("the console page")}, security=PUBLIC, tags=["pages"])},
        "/demo": {"get": operation("A demo shop page with the widget (`web.demo`)",
                                   {"200": html_answer("the demo page")}, security=PUBLIC, tags=["pages"])},
        "/widget/frame": {"get": operation(
            "The widget's iframe", {"200": html_answer("the frame page"), **errors(400, 403)}, security=PUBLIC,
            tags=["pages"], parameters=[
                {**query_param("origin", "the embedding page's origin (in `server.allowed_origins`)",
                               {"type": "string"}, required=True), "example": "https://shop.example"},
                query_param("lang", "the widget's language", {"type": "string"})])},
        "/widget.js": {"get": operation(
            "The embeddable widget script", {"200": {"description": "the script", "content": {
                "text/javascript": {"schema": {"type": "string"}}}}, "304": _NOT_MODIFIED},
            security=PUBLIC, tags=["pages"])},
        "/static/{path}": {"get": operation(
            "Scripts, styles and vendored libraries of the pages",
            {"200": _STATIC, "304": _NOT_MODIFIED, **errors(404)}, security=PUBLIC, tags=["pages"],
            parameters=[{"name": "path", "in": "path", "required": True, "schema": {"type": "string"}}])},
        "/ws/visitor": {"get": operation(
            "The visitor's chat socket", {"101": _SWITCHING, **errors(400, 401, 403, 429)},
            security=[{"visitorToken": []}], tags=["chat"], parameters=[_TOKEN, _LAST_SEQ])},
        "/ws/agent": {"get": operation(
            "The agent's chat socket", {"101": _SWITCHING, **errors(400, 401, 403, 429)},
            security=AGENT, tags=["chat"],
            parameters=[_TOKEN, query_param("presence", "online or away", {"type": "string"})])},
    }
