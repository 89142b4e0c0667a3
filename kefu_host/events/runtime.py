"""The events feature while the app runs: validators for every known type, the ingestor, the broker source."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import structlog
from aiohttp import web
from jsonschema import Draft202012Validator

from kefu_host.events.core_types import core_event_types
from kefu_host.events.effects import Effects
from kefu_host.events.ingest import Ingestor
from kefu_host.events.redis_source import RedisStreamSource
from kefu_host.events.types import EventType
from kefu_host.events.validation import Validators
from kefu_host.hookcall import Hooks
from kefu_host.keys import CHAT, CONFIG, EVENTS, HOOKS, METRICS, STORE
from kefu_host.tasks import stop_tasks

log = structlog.get_logger("kefu_host.events")


@dataclass
class EventsRuntime:
    ingestor: Ingestor
    types: dict[str, EventType]


def event_types(hooks: Hooks, core: list[EventType]) -> list[EventType]:
    """Core types plus every plugin's; a plugin type with a taken name or a bad schema is that plugin's error."""
    known = {t.name: t for t in core}

    def add(event_type: EventType, plugin: str) -> None:
        if event_type.name in known:
            raise ValueError(f"event type {event_type.name} is already defined")
        Draft202012Validator.check_schema(event_type.schema)
        known[event_type.name] = event_type

    hooks.collect("kefu_event_types", EventType, add)
    return list(known.values())


async def events_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    types = event_types(app[HOOKS], core_event_types(config.events))
    validators = Validators(types, max_future=config.events.tolerance)
    ingestor = Ingestor(app[STORE], validators, Effects(app[HOOKS], app[CHAT].service))
    ingestor.metrics = app[METRICS]
    app[EVENTS] = EventsRuntime(ingestor, validators.types)
    consumer_task = None
    if config.events.redis.url:
        consumer = RedisStreamSource(config.events.redis, ingestor)
        consumer_task = asyncio.create_task(consumer.run(), name="kefu-redis-events")
    yield
    await stop_tasks(consumer_task)
