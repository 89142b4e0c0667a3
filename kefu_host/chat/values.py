"""Read-only views of chat objects, as handed to plugins and put on the wire.

Conversations and messages are named tuples: the message path makes several per message, and a tuple is built
several times faster than a frozen dataclass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple


@dataclass(frozen=True, slots=True)
class CustomerView:
    id: int
    uid: str | None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    avatar_url: str | None = None
    vip_level: int = 0
    ltv_cents: int = 0
    tags: tuple[str, ...] = ()
    attributes: dict[str, Any] = field(default_factory=dict)
    owner: str | None = None

    @property
    def ltv(self) -> float:
        return self.ltv_cents / 100

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "uid": self.uid,
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "avatar_url": self.avatar_url,
            "vip_level": self.vip_level,
            "ltv": self.ltv,
            "tags": list(self.tags),
            "attributes": self.attributes,
            "owner": self.owner,
        }


class ConversationView(NamedTuple):
    id: int
    customer_id: int
    status: str
    team: str
    agent_id: int | None
    priority: int
    channel: str
    last_seq: int
    transfers: int
    tags: tuple[str, ...]
    created_at: datetime
    queued_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "customer_id": self.customer_id,
            "status": self.status,
            "team": self.team,
            "agent_id": self.agent_id,
            "priority": self.priority,
            "channel": self.channel,
            "last_seq": self.last_seq,
            "transfers": self.transfers,
            "tags": list(self.tags),
        }


#: What a message is: a visitor or agent writing (``text``), an agent's private note (``note``, agents only, see
#: :mod:`kefu_host.chat.notes`), or a file (``attachment``, see :mod:`kefu_host.attachments`).
TEXT, NOTE, ATTACHMENT = "text", "note", "attachment"
KINDS = frozenset({TEXT, NOTE, ATTACHMENT})


class MessageView(NamedTuple):
    id: int
    conversation_id: int
    seq: int
    sender: str
    sender_id: str | None
    client_msg_id: str | None
    body: str
    created_at: datetime
    kind: str = TEXT
    #: An attachment's stored metadata (its file's storage key included); :meth:`to_frame` shows the public part.
    attachment: Mapping[str, Any] | None = None

    def to_frame(self) -> dict[str, Any]:
        frame = {
            "type": "message",
            "conversation_id": self.conversation_id,
            "seq": self.seq,
            "id": self.id,
            "sender": self.sender,
            "sender_id": self.sender_id,
            "client_msg_id": self.client_msg_id,
            "kind": self.kind,
            "body": self.body,
            "created_at": self.created_at.isoformat(),
        }
        if self.attachment is not None:
            frame["attachment"] = attachment_frame(self.conversation_id, self.id, self.attachment)
        return frame


def attachment_url(conversation_id: int, message_id: int) -> str:
    return f"/api/conversations/{conversation_id}/attachments/{message_id}"


def attachment_frame(conversation_id: int, message_id: int, meta: Mapping[str, Any]) -> dict[str, Any]:
    """What clients see of an attachment: never its storage key. The message's id is the attachment's."""
    return {
        "id": message_id,
        "name": meta["name"],
        "size": meta["size"],
        "content_type": meta["content_type"],
        "image": meta["image"],
        "url": attachment_url(conversation_id, message_id),
    }


@dataclass(frozen=True, slots=True)
class AgentView:
    id: int
    name: str
    teams: tuple[str, ...]
    capacity: int


@dataclass(frozen=True, slots=True)
class RatingView:
    """A visitor's satisfaction rating of a closed conversation."""

    score: int
    comment: str | None
    rated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "comment": self.comment, "rated_at": self.rated_at.isoformat()}
