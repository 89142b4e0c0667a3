"""The cluster broker: Redis pub/sub between the nodes, one channel per topic (``kefu:<db>:<topic>``).

Pub/sub channels are global to a Redis server, whatever database a client selected, so the channel names carry the
database number of ``cluster.redis_url``: two deployments on one Redis, each with its own database, never hear
each other (as their keys do not mix).

A publication is delivered to this node's sessions at once and queued for Redis; one task sends the queue in
order over one connection (so every node sees one node's publications in the order they were made). Another task
holds the subscriber connection: it subscribes to the topics this node's sessions follow (and only those) and hands
what other nodes publish to the hub; its own publications come back and are skipped.

Redis is never the only copy: while it is unreachable, publications are dropped (counted, logged once per outage)
and nothing waits for it. Once the subscriber connection is back, every topic is subscribed again and, as each
subscription is confirmed, the hub makes its sessions catch up from the database (:meth:`Hub.subscribed`), so a
missed message is read by seq and a missed assignment is found again. A topic subscribed while the node runs
catches up the same way, which closes the window between a session starting to follow and Redis confirming.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

import orjson
import structlog
from redis import asyncio as aioredis
from redis.exceptions import RedisError

from kefu_host.chat.broker import Follow, Item, Unfollow
from kefu_host.chat.hub import Hub
from kefu_host.chat.protocol import Frame
from kefu_host.tasks import stop_tasks

log = structlog.get_logger("kefu_host.cluster")
#: Publications kept while Redis is slow or away; older ones are dropped (sessions repair from the database).
MAX_OUTBOX = 10_000
#: How long the subscriber waits for a message before it looks at subscription changes again.
POLL_SECONDS = 0.05
RETRY_SECONDS = 0.5


def channel_prefix(url: str) -> str:
    """``kefu:<db>:``, the database number read from the Redis URL as redis-py reads it (path or ``?db=``)."""
    db = aioredis.ConnectionPool.from_url(url).connection_kwargs.get("db", 0)
    return f"kefu:{int(db or 0)}:"


def encode(node_id: str, item: Item) -> bytes:
    if isinstance(item, Frame):
        return orjson.dumps([node_id, "m", item.text, item.conversation_id, item.seq, item.origin, item.private])
    if isinstance(item, Follow):
        return orjson.dumps([node_id, "f", item.conversation_id, item.after_seq])
    return orjson.dumps([node_id, "u", item.conversation_id])


def decode(data: bytes) -> tuple[str, Item]:
    fields = orjson.loads(data)
    node, kind = fields[0], fields[1]
    if kind == "m":
        return node, Frame(fields[2], fields[3], fields[4], fields[5], bool(fields[6]))
    if kind == "f":
        return node, Follow(int(fields[2]), int(fields[3]))
    return node, Unfollow(int(fields[2]))


class RedisBroker:
    def __init__(self, url: str, node_id: str) -> None:
        self.url = url
        self.node_id = node_id
        self.prefix = channel_prefix(url)
        self._hub: Hub | None = None
        self._outbox: deque[tuple[str, bytes]] = deque(maxlen=MAX_OUTBOX)
        self._wake = asyncio.Event()
        self._wanted: set[str] = set()
        self._changed = True  # subscriptions to bring in line with _wanted
        self._tasks: list[asyncio.Task[None]] = []
        self.dropped = 0
        self.connected = asyncio.Event()  # set while the subscriber connection is up
        #: times the subscriber connection came back after losing Redis
        self.reconnects = 0

    def attach(self, hub: Hub) -> None:
        self._hub = hub

    def publish(self, topic: str, item: Item) -> None:
        assert self._hub is not None, "attach a hub first"
        self._hub.deliver(topic, item)
        if len(self._outbox) == self._outbox.maxlen:
            self.dropped += 1
        self._outbox.append((self.prefix + topic, encode(self.node_id, item)))
        self._wake.set()

    def subscribe(self, topic: str) -> None:
        self._wanted.add(topic)
        self._changed = True

    def unsubscribe(self, topic: str) -> None:
        self._wanted.discard(topic)
        self._changed = True

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._publisher(), name="kefu-redis-publisher"),
                       loop.create_task(self._subscriber(), name="kefu-redis-subscriber")]

    async def stop(self) -> None:
        await stop_tasks(*self._tasks)  # both await redis-py, which can swallow a cancellation on Python 3.11

    async def _publisher(self) -> None:
        client: Any = None
        down = False
        while True:
            if not self._outbox:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch: list[tuple[str, bytes]] = []
            try:
                if client is None:
                    client = aioredis.from_url(self.url, socket_timeout=5, socket_connect_timeout=2)
                batch = [self._outbox.popleft() for _ in range(min(len(self._outbox), 500))]
                pipe = client.pipeline(transaction=False)
                for channel, data in batch:
                    pipe.publish(channel, data)
                await pipe.execute()
                if down:
                    log.info("redis reachable again for publishing", node=self.node_id)
                    down = False
            except (RedisError, OSError) as exc:
                self.dropped += len(batch)
                if not down:
                    log.warning("redis unreachable; publications dropped until it is back (clients repair from "
                                "the database)", node=self.node_id, error=str(exc))
                    down = True
                with contextlib.suppress(Exception):
                    await client.aclose()
                client = None
                await asyncio.sleep(RETRY_SECONDS)

    async def _subscriber(self) -> None:
        first = True
        while True:
            client = aioredis.from_url(self.url, socket_connect_timeout=2, health_check_interval=5)
            pubsub = client.pubsub()
            subscribed: set[str] = set()
            try:
                await pubsub.ping()
                if not first:
                    self.reconnects += 1
                    log.info("redis subscriber reconnected; catching up from the database", node=self.node_id,
                             topics=len(self._wanted))
                first = False
                self.connected.set()
                self._changed = True
                while True:
                    if self._changed:
                        self._changed = False
                        wanted = set(self._wanted)
                        if wanted - subscribed:
                            await pubsub.subscribe(*(self.prefix + t for t in wanted - subscribed))
                        if subscribed - wanted:
                            await pubsub.unsubscribe(*(self.prefix + t for t in subscribed - wanted))
                        subscribed = wanted
                    message = await pubsub.get_message(timeout=POLL_SECONDS)
                    while message is not None:
                        self._received(message)
                        message = await pubsub.get_message(timeout=0)
            except (RedisError, OSError) as exc:
                if self.connected.is_set():
                    log.warning("redis subscriber lost", node=self.node_id, error=str(exc))
                self.connected.clear()
                await asyncio.sleep(RETRY_SECONDS)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                with contextlib.suppress(Exception):
                    await client.aclose()

    def _received(self, message: dict[str, Any]) -> None:
        assert self._hub is not None
        kind = message.get("type")
        channel = message.get("channel")
        if isinstance(channel, bytes):
            channel = channel.decode()
        if not isinstance(channel, str) or not channel.startswith(self.prefix):
            return
        topic = channel[len(self.prefix):]
        if kind == "subscribe":
            self._hub.subscribed(topic)
        elif kind == "message":
            try:
                node, item = decode(message["data"])
            except (ValueError, IndexError, TypeError):
                log.warning("unreadable publication skipped", channel=channel)
                return
            if node != self.node_id:
                self._hub.deliver(topic, item)
