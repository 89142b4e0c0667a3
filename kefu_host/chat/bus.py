"""Pushes to whoever is listening, by topic: a conversation or an agent.

Handlers never hold each other's sockets; they publish to a topic and every subscribed :class:`Sink` gets the
frame. ``publish`` never waits: a sink that cannot keep up deals with it itself (see
:class:`~kefu_host.chat.connection.Connection`). :class:`LocalBus` serves one process; a multi-process bus keeps the
same interface and only says "something changed" (the database stays the source of truth).
"""

from __future__ import annotations

from typing import Protocol

from kefu_host.chat.protocol import Frame


class Sink(Protocol):
    def offer(self, frame: Frame) -> None:
        """Take a frame without waiting."""


class Bus(Protocol):
    def subscribe(self, topic: str, sink: Sink) -> None: ...

    def unsubscribe(self, topic: str, sink: Sink) -> None: ...

    def publish(self, topic: str, frame: Frame) -> None: ...

    def listeners(self, topic: str) -> int: ...


def conversation_topic(conversation_id: int) -> str:
    return f"c:{conversation_id}"


def agent_topic(agent_id: int) -> str:
    return f"a:{agent_id}"


def customer_topic(customer_id: int) -> str:
    """Every visitor tab of one customer listens here (to follow a conversation opened in another tab)."""
    return f"u:{customer_id}"


class LocalBus:
    """The in-process bus: a dict of topic -> sinks."""

    def __init__(self) -> None:
        self._topics: dict[str, dict[Sink, None]] = {}  # a dict keeps subscription order, unlike a set

    def subscribe(self, topic: str, sink: Sink) -> None:
        self._topics.setdefault(topic, {})[sink] = None

    def unsubscribe(self, topic: str, sink: Sink) -> None:
        sinks = self._topics.get(topic)
        if sinks is not None:
            sinks.pop(sink, None)
            if not sinks:
                del self._topics[topic]

    def publish(self, topic: str, frame: Frame) -> None:
        sinks = self._topics.get(topic)
        if sinks:
            for sink in list(sinks):
                sink.offer(frame)

    def listeners(self, topic: str) -> int:
        return len(self._topics.get(topic, ()))
