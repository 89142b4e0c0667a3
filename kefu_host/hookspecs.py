"""Every hook a kefu-host plugin can implement, grouped by lifecycle.

Implement a hook with ``@kefu_host.sdk.hookimpl`` on a module-level function or a method of the object returned by
the plugin's ``kefu_plugin(settings)`` factory. The host always calls hooks with keyword arguments, so an
implementation may accept fewer parameters than the spec lists. Every hook has a ``host`` parameter: the plugin's
own :class:`~kefu_host.plugin_host.PluginHost` (docs/internals.md).

Hooks in :data:`SYNC_HOOKS` are declarative or ``firstresult`` and must be plain functions; every other hook may be
``async def``. The host awaits async implementations concurrently, each under the plugin's ``hook_timeout``, and
isolates failures: an exception or timeout is logged with the plugin's name, counted in ``/api/plugins`` and does
not stop the other implementations. Each hook has a section in docs/hooks.md.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from aiohttp import web

    from kefu_host.agent_actions import AgentAction
    from kefu_host.chat.values import AgentView, ConversationView, CustomerView, MessageView
    from kefu_host.events.types import Event, EventType
    from kefu_host.plugin_host import PluginHost
    from kefu_host.rules.schema import ActionSpec, FieldSpec

hookspec = pluggy.HookspecMarker("kefu_host")

#: Hooks whose implementations must not be ``async def`` (they run while the app is built, or return first result).
SYNC_HOOKS = frozenset(
    {
        "kefu_routes",
        "kefu_openapi",
        "kefu_rule_fields",
        "kefu_rule_actions",
        "kefu_event_types",
        "kefu_agent_actions",
        "kefu_preferred_agent",
    }
)


# --- Lifecycle -------------------------------------------------------------------------------------------------


@hookspec
def kefu_startup(app: web.Application, host: PluginHost) -> Awaitable[None] | None:
    """The store is open and migrated, the app is about to serve: open your own resources here.

    Resources opened here should be closed in :func:`kefu_shutdown`. The host serves even if this fails.
    """


@hookspec
def kefu_shutdown(app: web.Application, host: PluginHost) -> Awaitable[None] | None:
    """The host is stopping after in-flight requests finished: close what :func:`kefu_startup` opened."""


@hookspec
def kefu_routes(host: PluginHost) -> Sequence[web.AbstractRouteDef] | None:
    """HTTP routes of the plugin, mounted under ``/plugins/<plugin name>/``.

    Return ``aiohttp.web.RouteDef`` objects (``web.get("/tickets", handler)``). Called once while the app is built.
    """


@hookspec
def kefu_openapi() -> Mapping[str, Any] | None:
    """OpenAPI 3.1 path items of the routes from :func:`kefu_routes`, keyed by the path as given there
    (``"/tickets/{id}": {"get": {...}}``); the host prefixes ``/plugins/<plugin name>`` and serves them in
    ``/api/openapi.json``. Operations may refer to the host's ``#/components/schemas/Error`` and its security
    schemes (``adminToken``, ``agentToken``, ``sessionCookie`` + ``csrfHeader``, ``visitorToken``).
    """


# --- Conversations ---------------------------------------------------------------------------------------------


@hookspec
def kefu_conversation_opened(
    conversation: ConversationView, reopened: bool, host: PluginHost
) -> Awaitable[None] | None:
    """A visitor's message opened a new conversation, or reopened their closed one; called before routing."""


@hookspec
def kefu_message_received(
    conversation: ConversationView, message: MessageView, host: PluginHost
) -> Awaitable[None] | None:
    """A visitor or agent message was stored; called before the conversation is routed again."""


@hookspec
def kefu_conversation_facts(
    conversation: ConversationView, customer: CustomerView, host: PluginHost
) -> Mapping[str, Any] | Awaitable[Mapping[str, Any] | None] | None:
    """Extra facts for the routing rules, as ``{"field.name": value}`` for fields from :func:`kefu_rule_fields`.

    Called before each routing decision; keep it fast (it runs under the hook timeout, and a slow one delays routing).
    """


@hookspec
def kefu_conversation_assigned(
    conversation: ConversationView, agent: AgentView, host: PluginHost
) -> Awaitable[None] | None:
    """A conversation was given to an agent (first assignment or after a re-queue)."""


@hookspec
def kefu_conversation_transferred(
    conversation: ConversationView, from_team: str | None, to_team: str, reason: str, host: PluginHost
) -> Awaitable[None] | None:
    """A conversation moved to another team or agent; the transcript moves with it."""


@hookspec
def kefu_conversation_closed(
    conversation: ConversationView, closed_by: str, host: PluginHost
) -> Awaitable[None] | None:
    """A conversation was closed by ``"agent"``, ``"visitor"`` or ``"idle"``."""


@hookspec(firstresult=True)
def kefu_preferred_agent(
    conversation: ConversationView, customer: CustomerView, host: PluginHost
) -> str | None:
    """Name an agent to prefer for this conversation (e.g. the customer's account manager), or ``None``.

    The first non-``None`` answer wins; a rule's ``prefer_agent`` action takes precedence over it.
    """


# --- Routing rules ---------------------------------------------------------------------------------------------


@hookspec
def kefu_rule_fields(host: PluginHost) -> Sequence[FieldSpec] | None:
    """Fields the plugin adds to the rule language (values come from :func:`kefu_conversation_facts`)."""


@hookspec
def kefu_rule_actions(host: PluginHost) -> Sequence[ActionSpec] | None:
    """Actions the plugin adds to the rule language; they reach :func:`kefu_rule_action` when a rule fires."""


@hookspec
def kefu_rule_action(
    action: str, args: Sequence[Any], rule_id: str, conversation: ConversationView, host: PluginHost
) -> Awaitable[None] | None:
    """A rule fired one of the plugin's actions for ``conversation``; only the plugin that registered it is called."""


# --- Business events -------------------------------------------------------------------------------------------


@hookspec
def kefu_event_types(host: PluginHost) -> Sequence[EventType] | None:
    """Event types the plugin accepts on ``POST /api/events``, each with its schema."""


@hookspec
def kefu_event_received(
    event: Event, customer: CustomerView | None, host: PluginHost
) -> Awaitable[None] | None:
    """A signed business event was stored (once per event id) and applied to the customer."""


# --- Agent console ---------------------------------------------------------------------------------------------


@hookspec
def kefu_agent_actions(host: PluginHost) -> Sequence[AgentAction] | None:
    """Actions an agent can call from the console like a local method (``erp.inventory(sku="A1")``)."""
