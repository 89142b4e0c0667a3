"""The broker: publishing to a topic (a conversation, an agent, a customer, a team) on every node.

What is published is a data :class:`~kefu_host.chat.protocol.Frame` or a control item (:class:`Follow`,
:class:`Unfollow`) telling the sessions on the topic to start or stop following a conversation. Control travels
beside the data, never inside it. :class:`LocalBroker` is the embedded default: a publication goes straight to this
process's :class:`~kefu_host.chat.hub.Hub`. :class:`~kefu_host.chat.redis_broker.RedisBroker` also carries it to the
other nodes. Either way a publication only says "something happened": the database has the record, and a session
that misses one repairs the gap from there by seq (:class:`~kefu_host.chat.connection.Connection`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from kefu_host.chat.protocol import Frame

if TYPE_CHECKING:
    from kefu_host.chat.hub import Hub


@dataclass(frozen=True, slots=True)
class Follow:
    """Sessions on the topic follow this conversation, delivering its messages after ``after_seq``."""

    conversation_id: int
    after_seq: int


@dataclass(frozen=True, slots=True)
class Unfollow:
    """Sessions on the topic stop following this conversation."""

    conversation_id: int


Item = Frame | Follow | Unfollow


class Broker(Protocol):
    #: This process's name in the cluster; origins and presence rows carry it.
    node_id: str

    def attach(self, hub: Hub) -> None:
        """The hub that delivers to this process's sessions."""

    def publish(self, topic: str, item: Item) -> None:
        """To every session on ``topic``, on every node; never waits."""

    def subscribe(self, topic: str) -> None:
        """This node has a session on ``topic`` now (the hub calls it for the first one)."""

    def unsubscribe(self, topic: str) -> None:
        """This node's last session on ``topic`` left."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class LocalBroker:
    """One process: publishing is delivering."""

    def __init__(self, node_id: str = "local") -> None:
        self.node_id = node_id
        self._hub: Hub | None = None

    def attach(self, hub: Hub) -> None:
        self._hub = hub

    def publish(self, topic: str, item: Item) -> None:
        assert self._hub is not None, "attach a hub first"
        self._hub.deliver(topic, item)

    def subscribe(self, topic: str) -> None:
        pass

    def unsubscribe(self, topic: str) -> None:
        pass

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


def conversation_topic(conversation_id: int) -> str:
    return f"c:{conversation_id}"


def agent_topic(agent_id: int) -> str:
    return f"a:{agent_id}"


def customer_topic(customer_id: int) -> str:
    """Every visitor tab of one customer listens here (to follow a conversation opened in another tab)."""
    return f"u:{customer_id}"


def conversation_of(topic: str) -> int | None:
    """The conversation a conversation topic names; None for other topics."""
    return int(topic[2:]) if topic.startswith("c:") else None
