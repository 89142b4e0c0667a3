"""Events from a Redis Stream, for companies that already publish to a broker.

A consumer group gives at-least-once delivery: an entry is acknowledged (XACK) only after its event is committed,
so a consumer that dies before acknowledging leaves the entry pending, and after ``claim_idle`` seconds any consumer
of the group takes it over (XAUTOCLAIM) and processes it again, where the recorded event id makes the repeat a
no-op. An entry that cannot be processed (bad JSON, schema error) or keeps failing past ``max_deliveries`` is copied
to ``<stream>:dead`` with the reason and acknowledged, so it never blocks the stream.

Entries hold the event envelope as JSON in the field ``event`` (or ``data``). The broker is trusted: entries are
not signed.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

import orjson
import structlog
from redis import asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from kefu_host.config import RedisEventSource
from kefu_host.events.ingest import Ingestor
from kefu_host.events.validation import InvalidEvent
from kefu_host.store import StoreBusy, StoreUnavailable

log = structlog.get_logger("kefu_host.events")
READ_COUNT = 100
BLOCK_MS = 1000


class RedisStreamSource:
    def __init__(self, config: RedisEventSource, ingestor: Ingestor) -> None:
        self.config = config
        self.ingestor = ingestor
        self.consumer = config.consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.dead_stream = f"{config.stream}:dead"

    async def run(self) -> None:
        """Consume until cancelled; a lost Redis connection is retried with backoff."""
        backoff = 0.5
        while True:
            client = aioredis.from_url(self.config.url)
            try:
                await self._ensure_group(client)
                backoff = 0.5
                await self._consume(client)
            except (RedisConnectionError, OSError) as exc:
                log.warning("redis event source disconnected; retrying", error=str(exc), retry_in_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
            finally:
                await client.aclose()

    async def _ensure_group(self, client: aioredis.Redis) -> None:
        try:
            await client.xgroup_create(self.config.stream, self.config.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _consume(self, client: aioredis.Redis) -> None:
        while True:
            claimed = await self._claim_stale(client)
            if claimed:
                await self._handle(client, claimed)
            batches = await client.xreadgroup(
                self.config.group, self.consumer, {self.config.stream: ">"}, count=READ_COUNT, block=BLOCK_MS
            )
            for _stream, entries in batches or ():
                await self._handle(client, entries)

    async def _claim_stale(self, client: aioredis.Redis) -> list[tuple[bytes, dict[bytes, bytes]]]:
        """Entries other consumers read but did not acknowledge within ``claim_idle`` seconds."""
        result = await client.xautoclaim(
            self.config.stream, self.config.group, self.consumer,
            min_idle_time=int(self.config.claim_idle * 1000), start_id="0-0", count=READ_COUNT,
        )
        return [(entry_id, fields) for entry_id, fields in result[1] if fields is not None]

    async def _handle(self, client: aioredis.Redis, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        for entry_id, fields in entries:
            try:
                raw, envelope = _envelope(fields)
                events = self.ingestor.parse(self.config.source, [envelope], raw=raw)
                await self._ingest(events)
            except (InvalidEvent, ValueError) as exc:
                await self._dead(client, entry_id, fields, f"invalid: {exc}")
                continue
            except StoreUnavailable as exc:
                log.warning("event from redis not stored; it stays pending", entry=entry_id.decode(), error=str(exc))
                await self._give_up_if_exhausted(client, entry_id, fields, str(exc))
                continue
            await client.xack(self.config.stream, self.config.group, entry_id)

    async def _ingest(self, events: list[Any]) -> None:
        """Ingest, waiting while the writer's events lane is full: reading slower is this source's backpressure,
        and a busy store is no failed delivery of the entry."""
        while True:
            try:
                await self.ingestor.ingest(events)
                return
            except StoreBusy as exc:
                await asyncio.sleep(exc.retry_after)

    async def _give_up_if_exhausted(
        self, client: aioredis.Redis, entry_id: bytes, fields: dict[bytes, bytes], reason: str
    ) -> None:
        pending = await client.xpending_range(self.config.stream, self.config.group, min=entry_id, max=entry_id,
                                              count=1)
        if pending and pending[0]["times_delivered"] >= self.config.max_deliveries:
            await self._dead(client, entry_id, fields, f"failed {self.config.max_deliveries} times: {reason}")

    async def _dead(self, client: aioredis.Redis, entry_id: bytes, fields: dict[bytes, bytes], reason: str) -> None:
        log.error("event entry dead-lettered", entry=entry_id.decode(), reason=reason, dead_stream=self.dead_stream)
        await client.xadd(self.dead_stream, {**fields, b"reason": reason.encode(), b"entry": entry_id})
        await client.xack(self.config.stream, self.config.group, entry_id)


def _envelope(fields: dict[bytes, bytes]) -> tuple[bytes, Any]:
    """The entry's JSON text and the envelope read from it."""
    raw = fields.get(b"event") or fields.get(b"data")
    if raw is None:
        raise ValueError("entry has no 'event' field with the JSON envelope")
    try:
        return raw, orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"'event' field is not JSON: {exc}") from None
