"""A connected client as the bus sees it: its socket's :class:`Connection` plus the topics it listens to."""

from __future__ import annotations

import asyncio

from kefu_host.chat.bus import Bus, conversation_topic
from kefu_host.chat.connection import Connection
from kefu_host.chat.protocol import Frame


class Session:
    """Subscribes its connection to topics and obeys ``follow``/``unfollow`` frames (see :class:`Frame`)."""

    __slots__ = ("conn", "bus", "topics", "tasks")

    def __init__(self, conn: Connection, bus: Bus) -> None:
        self.conn = conn
        self.bus = bus
        self.topics: set[str] = set()
        #: work started for this client (agent actions); cancelled when the socket closes
        self.tasks: set[asyncio.Task[None]] = set()

    def listen(self, topic: str) -> None:
        if topic not in self.topics:
            self.topics.add(topic)
            self.bus.subscribe(topic, self)

    def offer(self, frame: Frame) -> None:
        if frame.follow is not None:
            self.follow(*frame.follow)
        if frame.unfollow is not None:
            self.unfollow(frame.unfollow)
        if frame.origin == id(self):
            if frame.ack is None:
                return  # the socket's own typing or read, told to everyone else
            frame = frame._replace(text=frame.ack)  # the sender gets its ack where the message would have been
        self.conn.offer(frame)

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
            self.bus.unsubscribe(topic, self)
        self.conn.unfollow(conversation_id)

    def following(self, conversation_id: int) -> bool:
        return conversation_topic(conversation_id) in self.topics

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for topic in self.topics:
            self.bus.unsubscribe(topic, self)
        self.topics.clear()
        await self.conn.aclose()
