"""The hub: this process's sessions and the topics they listen to.

A session listens to topics (its conversations, its agent or customer, its team's availability); the hub delivers
what the broker publishes on a topic to every local session on it, and tells the broker when this node gains its
first or loses its last session on a topic, so a cluster broker subscribes only to what local sockets follow.

When the broker has (re)subscribed to a topic, publications before that moment may have been missed:
:meth:`Hub.subscribed` asks each session on the topic to catch up from the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from kefu_host.chat.broker import Broker, Item


class Listener(Protocol):
    def take(self, item: Item) -> None:
        """A published frame or control item; never waits."""

    def catch_up(self, topic: str) -> None:
        """Publications on ``topic`` may have been missed: read what matters from the database."""


class Hub:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self._topics: dict[str, dict[Listener, None]] = {}  # a dict keeps subscription order, unlike a set
        broker.attach(self)

    @property
    def node_id(self) -> str:
        return self.broker.node_id

    def subscribe(self, topic: str, listener: Listener) -> None:
        listeners = self._topics.get(topic)
        if listeners is None:
            listeners = self._topics[topic] = {}
            self.broker.subscribe(topic)
        listeners[listener] = None

    def unsubscribe(self, topic: str, listener: Listener) -> None:
        listeners = self._topics.get(topic)
        if listeners is not None:
            listeners.pop(listener, None)
            if not listeners:
                del self._topics[topic]
                self.broker.unsubscribe(topic)

    def publish(self, topic: str, item: Item) -> None:
        """To every session on ``topic``, here and on every other node."""
        self.broker.publish(topic, item)

    def deliver(self, topic: str, item: Item) -> None:
        """To this node's sessions on ``topic`` (the broker calls it)."""
        listeners = self._topics.get(topic)
        if listeners:
            for listener in list(listeners):
                listener.take(item)

    def subscribed(self, topic: str) -> None:
        """The broker now receives ``topic`` (again): its sessions catch up on what was published before."""
        for listener in list(self._topics.get(topic, ())):
            listener.catch_up(topic)

    def topics(self) -> Iterator[str]:
        return iter(list(self._topics))

    def listeners(self, topic: str) -> int:
        return len(self._topics.get(topic, ()))
