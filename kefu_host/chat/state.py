"""In-memory state of live (not closed) conversations, and per-key locks for state changes.

The store is the record; this is the working copy the message path reads without a query. Every change to it is
written through to the store by :class:`~kefu_host.chat.service.ChatService` before anyone is told.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from kefu_host.chat.values import ConversationView


class LastMessage(NamedTuple):
    """The visitor's latest message, as a queue entry shows it."""

    seq: int
    kind: str
    body: str
    created_at: datetime


@dataclass
class ConvState:
    id: int
    customer_id: int
    visitor_id: str
    status: str
    team: str
    agent_id: int | None
    priority: int
    channel: str
    last_seq: int
    transfers: int
    tags: list[str]
    created_at: datetime
    queued_at: datetime
    #: monotonic time of the last message, for idle closing
    last_activity: float = field(default_factory=time.monotonic)
    #: rules that fired in the last stored decision, so unchanged message decisions are not stored again
    last_fired: tuple[str, ...] | None = None
    #: queue position the visitor was last told
    announced_position: int | None = None
    #: the visitor's latest message (None until one arrives while the host runs)
    last_visitor: LastMessage | None = None
    #: visitor messages the agent has not read yet (reset by the agent's ``read`` up to them, or a reply)
    unread: int = 0

    @classmethod
    def from_view(cls, view: ConversationView, visitor_id: str = "") -> ConvState:
        return cls(
            id=view.id,
            customer_id=view.customer_id,
            visitor_id=visitor_id,
            status=view.status,
            team=view.team,
            agent_id=view.agent_id,
            priority=view.priority,
            channel=view.channel,
            last_seq=view.last_seq,
            transfers=view.transfers,
            tags=list(view.tags),
            created_at=view.created_at,
            queued_at=view.queued_at or view.created_at,
        )

    def view(self) -> ConversationView:
        return ConversationView(
            id=self.id,
            customer_id=self.customer_id,
            status=self.status,
            team=self.team,
            agent_id=self.agent_id,
            priority=self.priority,
            channel=self.channel,
            last_seq=self.last_seq,
            transfers=self.transfers,
            tags=tuple(self.tags),
            created_at=self.created_at,
            queued_at=self.queued_at,
        )


class KeyedLocks:
    """One asyncio lock per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[object, asyncio.Lock] = weakref.WeakValueDictionary()

    def __call__(self, key: object) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock
