"""Everything a plugin may import from the host, in one place.

Plugins import from ``kefu_host.sdk`` only; every other module of ``kefu_host`` may change without notice.
docs/internals.md says what is stable here.
"""

from __future__ import annotations

from kefu_host import hookimpl
from kefu_host.agent_actions import ActionContext, ActionError, AgentAction
from kefu_host.chat.values import AgentView, ConversationView, CustomerView, MessageView
from kefu_host.events.changes import MAX_AMOUNT, CustomerChange
from kefu_host.events.types import Event, EventType
from kefu_host.http import admin_denied, check_admin, error_response, json_response, path_int
from kefu_host.inputs import INT32_MAX, BadInput, IntRange
from kefu_host.plugin_db import PluginStore, UtcDateTime, check_dsn, open_store, resolve_url, utcnow
from kefu_host.plugin_http import error_message, http_tracing, json_body
from kefu_host.plugin_settings import http_url, reject_unknown, seconds, text
from kefu_host.rules.schema import FieldSpec, FieldType

__all__ = [
    "INT32_MAX",
    "MAX_AMOUNT",
    "ActionContext",
    "ActionError",
    "AgentAction",
    "AgentView",
    "BadInput",
    "ConversationView",
    "CustomerChange",
    "CustomerView",
    "Event",
    "EventType",
    "FieldSpec",
    "FieldType",
    "IntRange",
    "MessageView",
    "PluginStore",
    "UtcDateTime",
    "admin_denied",
    "check_admin",
    "check_dsn",
    "error_message",
    "error_response",
    "hookimpl",
    "http_tracing",
    "http_url",
    "json_body",
    "json_response",
    "open_store",
    "path_int",
    "reject_unknown",
    "resolve_url",
    "seconds",
    "text",
    "utcnow",
]
