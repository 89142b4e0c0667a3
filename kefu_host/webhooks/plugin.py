"""Outbound webhooks as a built-in plugin: it opens the outbox and runs the delivery worker.

The deliveries themselves are written by the chat store, in the transaction of the change they report (see
:mod:`kefu_host.webhooks.outbox`); this plugin tells the outbox which endpoint wants which event type, and starts
the worker that sends what was recorded. With no endpoint configured neither happens: nothing is recorded and
nothing polls the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from aiohttp import web

from kefu_host import hookimpl
from kefu_host.config import WebhooksConfig
from kefu_host.keys import CONFIG, METRICS, OUTBOX, STORE, TRACING
from kefu_host.webhooks import events
from kefu_host.webhooks.outbox import Target
from kefu_host.webhooks.worker import DeliveryWorker, WorkerOptions

log = structlog.get_logger("kefu_host.webhooks")


def subscriptions(config: WebhooksConfig) -> dict[str, list[Target]]:
    """Event type -> the (endpoint name, url) subscribed to it."""
    return {
        t: [(name, e.url) for name, e in config.endpoints.items() if events.subscribed(e, t)]
        for t in events.EVENT_TYPES
    }


class WebhooksPlugin:
    def __init__(self, options: WorkerOptions) -> None:
        self.options = options
        self.worker: DeliveryWorker | None = None

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
        self.worker = DeliveryWorker(app[STORE], config, self.options, metrics=app[METRICS], tracing=app[TRACING])
        self.worker.start()
        app[OUTBOX].open(subscriptions(config), wake=self.worker.wake)
        log.info("webhooks enabled", endpoints=sorted(config.endpoints))

    @hookimpl
    async def kefu_shutdown(self, app: web.Application) -> None:
        # the outbox stays open: a change stored after this still gets its deliveries, sent after a restart
        if self.worker is not None:
            await self.worker.stop()
            self.worker = None


def worker_options(settings: Mapping[str, Any]) -> WorkerOptions:
    """``[plugins."core.webhooks"]`` settings: ``poll_interval`` and ``lease_margin`` (seconds > 0) and
    ``max_in_flight`` (>= 1)."""
    known = ("lease_margin", "max_in_flight", "poll_interval")
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise ValueError(f"unknown settings {unknown}; known: {', '.join(known)}")
    defaults = WorkerOptions()
    seconds = {}
    for name in ("poll_interval", "lease_margin"):
        value = settings.get(name, getattr(defaults, name))
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ValueError(f"{name} must be a number of seconds > 0, got {value!r}")
        seconds[name] = float(value)
    limit = settings.get("max_in_flight", defaults.max_in_flight)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"max_in_flight must be an integer >= 1, got {limit!r}")
    return WorkerOptions(max_in_flight=limit, **seconds)


def kefu_plugin(settings: Mapping[str, Any]) -> WebhooksPlugin:
    return WebhooksPlugin(worker_options(settings))
