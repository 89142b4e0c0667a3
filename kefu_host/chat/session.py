"""A connected client as the hub sees it: its socket's :class:`Connection` plus the topics it listens to."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from kefu_host.chat.broker import Follow, Item, Unfollow, conversation_of, conversation_topic
from kefu_host.chat.connection import Connection
from kefu_host.chat.hub import Hub
from kefu_host.chat.protocol import Frame
from kefu_host.tasks import stop_tasks


class Session:
    """Subscribes its connection to topics and obeys :class:`Follow` / :class:`Unfollow` items.

    ``origin`` names the session across the cluster (node id and a local number): frames it caused (its own typing)
    carry it, and it skips them.
    """

    __slots__ = ("conn", "hub", "topics", "tasks", "origin", "on_catch_up", "held", "__weakref__")

    def __init__(self, conn: Connection, hub: Hub) -> None:
        self.conn = conn
        self.hub = hub
        self.topics: set[str] = set()
        #: work started for this client (agent actions, catching up); cancelled when the socket closes
        self.tasks: set[asyncio.Task[None]] = set()
        self.origin = f"{hub.node_id}/{id(self):x}"
        #: what to re-read when a topic other than a conversation's may have missed publications (assignments)
        self.on_catch_up: Callable[[], Awaitable[None]] | None = None
        #: frames published while the first frame (``welcome``) is being read: sent after it (:meth:`release`)
        self.held: list[Frame] | None = None

    def listen(self, topic: str) -> None:
        if topic not in self.topics:
            self.topics.add(topic)
            self.hub.subscribe(topic, self)

    def hold(self) -> None:
        """Keep frames back until :meth:`release`: the socket's first frame is still being read from the store."""
        self.held = []

    def release(self) -> None:
        held, self.held = self.held or [], None
        for item in held:
            self.conn.offer(item)

    def take(self, item: Item) -> None:
        if isinstance(item, Frame):
            if item.origin is not None and item.origin == self.origin:
                return  # the socket's own typing or read, told to everyone else
            if self.held is not None:
                self.held.append(item)
                return
            self.conn.offer(item)
        elif isinstance(item, Follow):
            self.follow(item.conversation_id, item.after_seq)
        elif isinstance(item, Unfollow):
            self.unfollow(item.conversation_id)

    def acked(self, message: Frame, ack: Frame) -> None:
        """The sender's own message: the ack takes the message's place in this socket's stream (the message
        itself, arriving after, is then a repeat and dropped)."""
        if self.following(message.conversation_id or 0):
            self.conn.ack(message, ack.text)
        else:
            self.conn.send(ack)

    def catch_up(self, topic: str) -> None:
        cid = conversation_of(topic)
        if cid is not None:
            self.conn.catch_up(cid)
        elif self.on_catch_up is not None and topic.startswith(("a:", "u:")):  # who holds what, what is open
            self._spawn(self.on_catch_up())

    def _spawn(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            await work

        task = asyncio.get_running_loop().create_task(run())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def follow(self, conversation_id: int, after_seq: int) -> None:
        """Deliver this conversation's messages after ``after_seq`` from now on."""
        if self.conn.position(conversation_id) is None:
            self.conn.follow(conversation_id, after_seq)
        self.listen(conversation_topic(conversation_id))

    async def resume(self, conversation_id: int, after_seq: int) -> None:
        """Replay what was missed after ``after_seq``, then deliver live messages, in order and without repeats."""
        self.listen(conversation_topic(conversation_id))
        await self.conn.resume(conversation_id, after_seq)

    def unfollow(self, conversation_id: int) -> None:
        topic = conversation_topic(conversation_id)
        if topic in self.topics:
            self.topics.discard(topic)
            self.hub.unsubscribe(topic, self)
        self.conn.unfollow(conversation_id)

    def following(self, conversation_id: int) -> bool:
        return conversation_topic(conversation_id) in self.topics

    def followed(self) -> list[int]:
        return [cid for t in self.topics if (cid := conversation_of(t)) is not None]

    async def close(self) -> None:
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        for topic in self.topics:
            self.hub.unsubscribe(topic, self)
        self.topics.clear()
        # a catch-up or an action may be inside a read of the store: it ends (its connection given back) first
        await stop_tasks(*tasks, *self.tasks)
        await self.conn.aclose()
