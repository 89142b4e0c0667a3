"""The Redis broker: frames and control items between two nodes, and catching up after Redis comes back."""

from __future__ import annotations

import asyncio

import pytest
from redis import asyncio as aioredis

from kefu_host.chat.broker import Follow, Item, Unfollow
from kefu_host.chat.hub import Hub
from kefu_host.chat.protocol import frame
from kefu_host.chat.redis_broker import RedisBroker, channel_prefix, decode, encode


class Listener:
    def __init__(self) -> None:
        self.items: list[Item] = []
        self.caught_up: list[str] = []
        self.changed = asyncio.Event()

    def take(self, item: Item) -> None:
        self.items.append(item)
        self.changed.set()

    def catch_up(self, topic: str) -> None:
        self.caught_up.append(topic)
        self.changed.set()

    async def until(self, check: object, timeout: float = 10.0) -> None:
        async def wait() -> None:
            while not check():  # type: ignore[operator]
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), timeout)


def test_publications_survive_the_wire() -> None:
    message = frame({"type": "message", "seq": 3}, conversation_id=7, seq=3, origin="n1/ab", private=True)
    for item in (message, Follow(7, 2), Unfollow(7)):
        assert decode(encode("n1", item)) == ("n1", item)


@pytest.mark.redis
async def test_a_publication_on_one_node_reaches_the_other_once(redis_url: str) -> None:
    a, b = RedisBroker(redis_url, "a"), RedisBroker(redis_url, "b")
    hub_a, hub_b = Hub(a), Hub(b)
    here, there = Listener(), Listener()
    hub_a.subscribe("c:1", here)
    hub_b.subscribe("c:1", there)
    await a.start()
    await b.start()
    try:
        await there.until(lambda: "c:1" in there.caught_up)  # subscribed: from now on nothing is missed
        await here.until(lambda: "c:1" in here.caught_up)
        hub_a.publish("c:1", Follow(1, 0))
        hub_a.publish("c:1", frame({"n": 1}, conversation_id=1, seq=1))
        await there.until(lambda: len(there.items) == 2)
        assert there.items == [Follow(1, 0), frame({"n": 1}, conversation_id=1, seq=1)]  # in order
        assert here.items == there.items  # delivered here at once, and not again from Redis
    finally:
        await a.stop()
        await b.stop()


def test_the_channels_carry_the_database_number() -> None:
    assert channel_prefix("redis://127.0.0.1:6379") == "kefu:0:"
    assert channel_prefix("redis://127.0.0.1:6379/12") == "kefu:12:"
    assert channel_prefix("rediss://user:secret@redis.internal:6380/3") == "kefu:3:"
    assert channel_prefix("unix:///run/redis.sock?db=4") == "kefu:4:"


@pytest.mark.redis
async def test_deployments_on_other_databases_of_one_redis_do_not_hear_each_other(redis_url: str) -> None:
    """Pub/sub ignores the database a client selected: without the number in the channel, a staging cluster on
    another database would deliver its frames to production's sessions."""
    base, _, db = redis_url.rpartition("/")
    other_url = f"{base}/{(int(db or 0) + 1) % 16}"
    mine, neighbour, other = (RedisBroker(redis_url, "a"), RedisBroker(redis_url, "b"),
                              RedisBroker(other_url, "c"))
    hubs = Hub(mine), Hub(neighbour), Hub(other)
    heard_by_neighbour, heard_by_other = Listener(), Listener()
    hubs[1].subscribe("c:1", heard_by_neighbour)
    hubs[2].subscribe("c:1", heard_by_other)
    wire = aioredis.from_url(redis_url)
    watch = wire.pubsub()
    await watch.psubscribe("kefu:*")
    for broker in (mine, neighbour, other):
        await broker.start()
    try:
        await heard_by_neighbour.until(lambda: "c:1" in heard_by_neighbour.caught_up)
        await heard_by_other.until(lambda: "c:1" in heard_by_other.caught_up)
        hubs[2].publish("c:1", frame({"n": "other"}, conversation_id=1, seq=1))
        channels = []
        async with asyncio.timeout(10):
            while not channels:
                message = await watch.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None:
                    channels.append(message["channel"].decode())
        # Redis has handed the other deployment's frame to every subscriber of its channel; what this deployment
        # publishes now reaches the neighbour after it, had it crossed over
        hubs[0].publish("c:1", frame({"n": "mine"}, conversation_id=1, seq=1))
        await heard_by_neighbour.until(lambda: len(heard_by_neighbour.items) >= 1)
        assert heard_by_neighbour.items == [frame({"n": "mine"}, conversation_id=1, seq=1)]
        assert heard_by_other.items == [frame({"n": "other"}, conversation_id=1, seq=1)]
        assert channels == [f"kefu:{(int(db or 0) + 1) % 16}:c:1"]
    finally:
        for broker in (mine, neighbour, other):
            await broker.stop()
        await watch.aclose()
        await wire.aclose()


def test_redis_replies_are_parsed_by_hiredis() -> None:
    """A node reads back every publication of the topics its sockets follow: redis-py parses them with hiredis (a
    dependency) when it is importable, and with its pure-Python parser otherwise."""
    from redis.utils import HIREDIS_AVAILABLE

    assert HIREDIS_AVAILABLE


@pytest.mark.redis
async def test_a_broker_stopped_at_any_point_of_its_start_up_stops(redis_url: str) -> None:
    """redis-py awaits through Python 3.11's ``asyncio.wait_for``, which can swallow a cancellation: a subscriber
    cancelled while it connects and subscribes then carried on, and a host stopping in that instant never did."""
    for steps in range(40):
        broker = RedisBroker(redis_url, f"n{steps}")
        hub = Hub(broker)
        hub.subscribe("c:1", Listener())
        await broker.start()
        hub.publish("c:1", Follow(1, 0))
        for _ in range(steps):  # let the publisher and the subscriber get that far into talking to Redis
            await asyncio.sleep(0)
        stopping = asyncio.create_task(broker.stop())
        done, _ = await asyncio.wait([stopping], timeout=10)
        assert done, f"stopped {steps} steps into its start-up, the broker still runs {broker._tasks}"
