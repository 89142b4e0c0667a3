"""Everything a plugin may import from the host, in one place.

Plugins import from ``kefu_host.sdk`` only; every other module of ``kefu_host`` may change without notice (a test
fails when a bundled plugin imports anything else). docs/internals.md says what is stable here.
"""

from __future__ import annotations

from kefu_host import hookimpl
from kefu_host.agent_actions import ActionContext, ActionError, AgentAction
from kefu_host.chat.values import AgentView, ConversationView, CustomerView, MessageView
from kefu_host.events.changes import MAX_AMOUNT, CustomerChange
from kefu_host.events.types import Event, EventType
from kefu_host.http import admin_denied, check_admin, error_response, json_response, path_int, query_int, read_json
from kefu_host.inputs import ID_RANGE, INT32_MAX, INT32_RANGE, BadInput, IntRange
from kefu_host.loopback import LoopbackServer, SimulatorError, is_loopback, require_loopback
from kefu_host.plugin_db import PluginStore, UtcDateTime, check_dsn, open_engine, open_store, resolve_url, utcnow
from kefu_host.plugin_host import Agents, Conversations, Customers, HostNotReady, PluginHost
from kefu_host.plugin_http import error_message, json_body
from kefu_host.plugin_settings import flag, http_url, reject_unknown, seconds, text
from kefu_host.rules.schema import ActionSpec, FieldSpec, FieldType

__all__ = [
    "ID_RANGE",
    "INT32_MAX",
    "INT32_RANGE",
    "MAX_AMOUNT",
    "ActionContext",
    "ActionError",
    "ActionSpec",
    "AgentAction",
    "AgentView",
    "Agents",
    "BadInput",
    "ConversationView",
    "Conversations",
    "CustomerChange",
    "CustomerView",
    "Customers",
    "Event",
    "EventType",
    "FieldSpec",
    "FieldType",
    "HostNotReady",
    "IntRange",
    "LoopbackServer",
    "MessageView",
    "PluginHost",
    "PluginStore",
    "SimulatorError",
    "UtcDateTime",
    "admin_denied",
    "check_admin",
    "check_dsn",
    "error_message",
    "error_response",
    "flag",
    "hookimpl",
    "http_url",
    "is_loopback",
    "json_body",
    "json_response",
    "open_engine",
    "open_store",
    "path_int",
    "query_int",
    "read_json",
    "reject_unknown",
    "require_loopback",
    "resolve_url",
    "seconds",
    "text",
    "utcnow",
]
