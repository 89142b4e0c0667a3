"""The Redis broker: frames and control items between two nodes, and catching up after Redis comes back."""

from __future__ import annotations

import asyncio

import pytest

from kefu_host.chat.broker import Follow, Item, Unfollow
from kefu_host.chat.hub import Hub
from kefu_host.chat.protocol import frame
from kefu_host.chat.redis_broker import RedisBroker, decode, encode


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
