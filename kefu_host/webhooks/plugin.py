"""Outbound webhooks as a built-in plugin: conversation hooks in, signed deliveries out.

Each hook becomes an event; each endpoint subscribed to its type gets a pending delivery row, written (and awaited)
before the hook returns, then the worker is woken to send it. With no endpoint configured, or none subscribed to a
type, nothing is written: ``message.created`` runs for every chat message and must cost nothing unless wanted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from aiohttp import web

from kefu_host import hookimpl
from kefu_host.chat.values import AgentView, ConversationView, MessageView
from kefu_host.keys import CONFIG, STORE
from kefu_host.store import Store
from kefu_host.store.models import utcnow
from kefu_host.webhooks import events, repo
from kefu_host.webhooks.worker import DeliveryWorker, WorkerOptions

log = structlog.get_logger("kefu_host.webhooks")


class WebhooksPlugin:
    def __init__(self, options: WorkerOptions) -> None:
        self.options = options
        self.store: Store | None = None
        self.worker: DeliveryWorker | None = None
        #: event type -> (endpoint name, url) subscribed to it; computed once, looked up per event
        self.targets: dict[str, list[tuple[str, str]]] = {}

    @hookimpl
    async def kefu_startup(self, app: web.Application) -> None:
        config = app[CONFIG].webhooks
        if not config.endpoints:
            return  # no worker either: a host without webhooks does not poll the table
        for name, endpoint in config.endpoints.items():
            unknown = events.unknown_types(endpoint)
            if unknown:
                log.warning(
                    "webhook endpoint subscribes to unknown event types",
                    endpoint=name,
                    unknown=unknown,
                    known=list(events.EVENT_TYPES),
                )
        self.targets = {
            t: [(name, e.url) for name, e in config.endpoints.items() if events.subscribed(e, t)]
            for t in events.EVENT_TYPES
        }
        self.store = app[STORE]
        self.worker = DeliveryWorker(self.store, config, self.options)
        self.worker.start()
        log.info("webhooks enabled", endpoints=sorted(config.endpoints))

    @hookimpl
    async def kefu_shutdown(self, app: web.Application) -> None:
        if self.worker is not None:
            await self.worker.stop()
            self.worker = None

    def emit(self, event_type: str, data: Callable[[], dict[str, Any]]) -> Awaitable[list[str]] | None:
        """Record ``event_type`` for its subscribers; ``data`` is built only if wanted.

        A plain function returning the work to await, or None when no endpoint wants the event: the hooks run for
        every chat message, and with nothing to do they cost the host no coroutine at all.
        """
        targets = self.targets.get(event_type)
        if not targets or self.store is None or self.worker is None:
            return None
        return self._record(events.new_event(event_type, utcnow(), data()), targets)

    async def _record(self, event: Any, targets: list[tuple[str, str]]) -> list[str]:
        assert self.store is not None and self.worker is not None
        ids = await repo.record(self.store, event, targets)
        self.worker.wake()
        return ids

    @hookimpl
    def kefu_conversation_opened(self, conversation: ConversationView, reopened: bool) -> Awaitable[Any] | None:
        kind = events.CONVERSATION_REOPENED if reopened else events.CONVERSATION_CREATED
        return self.emit(kind, lambda: events.conversation_data(conversation))

    @hookimpl
    def kefu_message_received(self, conversation: ConversationView, message: MessageView) -> Awaitable[Any] | None:
        return self.emit(events.MESSAGE_CREATED, lambda: events.message_data(conversation, message))

    @hookimpl
    def kefu_conversation_assigned(self, conversation: ConversationView, agent: AgentView) -> Awaitable[Any] | None:
        return self.emit(events.CONVERSATION_ASSIGNED, lambda: events.assigned_data(conversation, agent))

    @hookimpl
    def kefu_conversation_transferred(
        self, conversation: ConversationView, from_team: str | None, to_team: str, reason: str
    ) -> Awaitable[Any] | None:
        return self.emit(
            events.CONVERSATION_TRANSFERRED,
            lambda: events.transferred_data(conversation, from_team, to_team, reason),
        )

    @hookimpl
    def kefu_conversation_closed(self, conversation: ConversationView, closed_by: str) -> Awaitable[Any] | None:
        return self.emit(events.CONVERSATION_CLOSED, lambda: events.closed_data(conversation, closed_by))


def worker_options(settings: Mapping[str, Any]) -> WorkerOptions:
    """``[plugins."core.webhooks"]`` settings: ``poll_interval`` (seconds > 0) and ``max_in_flight`` (>= 1)."""
    unknown = sorted(set(settings) - {"poll_interval", "max_in_flight"})
    if unknown:
        raise ValueError(f"unknown settings {unknown}; known: max_in_flight, poll_interval")
    defaults = WorkerOptions()
    poll = settings.get("poll_interval", defaults.poll_interval)
    if isinstance(poll, bool) or not isinstance(poll, int | float) or poll <= 0:
        raise ValueError(f"poll_interval must be a number of seconds > 0, got {poll!r}")
    limit = settings.get("max_in_flight", defaults.max_in_flight)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"max_in_flight must be an integer >= 1, got {limit!r}")
    return WorkerOptions(poll_interval=float(poll), max_in_flight=limit)


def kefu_plugin(settings: Mapping[str, Any]) -> WebhooksPlugin:
    return WebhooksPlugin(worker_options(settings))
