"""The host's tables. Alembic migrations in ``migrations/versions`` create them; these models are the reference.

Timestamps are timezone-aware UTC on every backend (:class:`UTCDateTime`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

#: SQLite only auto-increments ``INTEGER PRIMARY KEY``; elsewhere ids are 64-bit.
BigId = BigInteger().with_variant(Integer, "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and reads them back aware, also on SQLite (which keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[str]: JSON()}


class Customer(Base):
    """A company's end user, known by the business user id (``uid``) or anonymous (``uid`` is None)."""

    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    uid: Mapped[str | None] = mapped_column(String(191), unique=True)
    name: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(64))
    avatar_url: Mapped[str | None] = mapped_column(String(1024))
    vip_level: Mapped[int] = mapped_column(Integer, default=0)
    #: Lifetime value in minor units (cents) of the host's base currency.
    ltv_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    tags: Mapped[list[str]] = mapped_column(default=list)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: Name of the agent who owns this customer (account manager), if any.
    owner: Mapped[str | None] = mapped_column(String(191))
    last_ip: Mapped[str | None] = mapped_column(String(64))
    last_user_agent: Mapped[str | None] = mapped_column(String(512))
    last_login_at: Mapped[datetime | None]
    #: ``{field: occurred_at ISO}``: the event time behind each profile value, so an older event never wins.
    field_times: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Team(Base):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Agent(Base):
    __tablename__ = "agents"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    #: ``sha256$...`` hash of the agent's token secret (``scrypt$...`` from earlier versions, replaced at the next
    #: login); the token itself is shown once and never stored.
    secret_hash: Mapped[str] = mapped_column(String(255))
    capacity: Mapped[int] = mapped_column(Integer, default=3)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime | None]
    #: ``scrypt$...`` hash of the console password (see :mod:`kefu_host.chat.passwords`); None: no password login.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    #: Admin agents may use the admin API (rules, plugins, every conversation) with their console session.
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: Assigned conversations; on PostgreSQL a trigger keeps it and ``CHECK (load <= capacity)`` holds it (0004).
    load: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: When the agent last got a conversation: among equally loaded agents the one idle longest goes first.
    last_assigned_at: Mapped[datetime | None]


class AgentSession(Base):
    """An open agent socket on some node; the node refreshes ``heartbeat_at`` while it lives. A row whose
    heartbeat is older than ``cluster.session_ttl`` belongs to a dead node and is removed by any other."""

    __tablename__ = "agent_sessions"
    #: the session's origin (node id and a local number)
    id: Mapped[str] = mapped_column(String(191), primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    node_id: Mapped[str] = mapped_column(String(191), index=True)
    #: online | away: what this socket wishes (the agent is online while any live session wishes so)
    wish: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoginSession(Base):
    """A console sign-in. The cookie holds a random secret; the table keeps only its SHA-256 (``id``)."""

    __tablename__ = "login_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Last use (an HTTP call, or an open console socket); the idle timeout counts from here.
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class SetupToken(Base):
    """A one-time setup token (its SHA-256) for creating the first agent; every row goes when one is used."""

    __tablename__ = "setup_tokens"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AgentTeam(Base):
    __tablename__ = "agent_teams"
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)


#: The predicate of the open-conversation index (``ON CONFLICT`` names it to find that index).
OPEN_CONVERSATION = text("status <> 'closed'")


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_status_team", "status", "team"),
        Index("ix_conversations_queue", "team", "status", "priority", "queued_at"),
        # a customer has at most one open conversation, even when two nodes open it at once (0007)
        Index("uq_conversations_open_customer", "customer_id", unique=True,
              postgresql_where=OPEN_CONVERSATION, sqlite_where=OPEN_CONVERSATION),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    #: The visitor's browser identity (from the signed visitor token).
    visitor_id: Mapped[str] = mapped_column(String(64), index=True)
    #: queued | assigned | closed
    status: Mapped[str] = mapped_column(String(16), default="queued")
    team: Mapped[str] = mapped_column(String(100))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    #: The agent its last placement preferred (a rule's ``prefer_agent``, a plugin's answer, a transfer's colleague):
    #: with several nodes, whichever node hands it out of the queue later offers it to that agent first (0008).
    preferred_agent: Mapped[str | None] = mapped_column(String(100))
    priority: Mapped[int] = mapped_column(Integer, default=50)
    channel: Mapped[str] = mapped_column(String(32), default="web")
    #: Highest message seq; messages are numbered 1, 2, 3... with no gaps.
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    #: The seq its agent has read up to (a ``read`` frame, or the agent's reply): the visitor's messages after it
    #: are the unread count, on every node and after a restart (0009).
    read_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    transfers: Mapped[int] = mapped_column(Integer, default=0)
    tags: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    queued_at: Mapped[datetime | None]
    assigned_at: Mapped[datetime | None]
    last_message_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    #: agent | visitor | idle
    closed_by: Mapped[str | None] = mapped_column(String(16))
    #: The visitor's satisfaction rating of the last close, 1-5, and its comment (cleared when it reopens).
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(Text)
    rated_at: Mapped[datetime | None]


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq"),
        UniqueConstraint("conversation_id", "sender", "client_msg_id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    #: visitor | agent | system
    sender: Mapped[str] = mapped_column(String(16))
    sender_id: Mapped[str | None] = mapped_column(String(100))
    client_msg_id: Mapped[str | None] = mapped_column(String(100))
    #: text | note (agents only) | attachment
    kind: Mapped[str] = mapped_column(String(16), default="text")
    #: The text; an attachment's file name.
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: For the attachment kind: the file's name, size, sniffed type and storage key (kefu_host.attachments).
    attachment: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))


class CannedReply(Base):
    """A saved answer agents insert into the composer: a team's (``team`` set) or one agent's own (``agent_id``)."""

    __tablename__ = "canned_replies"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: The team whose agents share it; None for a personal reply.
    team: Mapped[str | None] = mapped_column(String(100), index=True)
    #: The agent it belongs to; None for a team reply.
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    #: What the agent types after ``/`` to find it.
    shortcut: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProcessedEvent(Base):
    """A business event accepted once: the primary key makes a repeated (source, id) a no-op."""

    __tablename__ = "processed_events"
    source: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(191), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    customer_uid: Mapped[str | None] = mapped_column(String(191), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)


class RoutingDecision(Base):
    """Why a conversation went where it went: the rule revision, the rules that fired and what they asked for."""

    __tablename__ = "routing_decisions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    #: open | message | event | requeue
    trigger: Mapped[str] = mapped_column(String(16))
    revision: Mapped[str] = mapped_column(String(64))
    fired: Mapped[list[str]] = mapped_column(default=list)
    actions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    team: Mapped[str | None] = mapped_column(String(100))
    #: What the host did with the decision: assigned | queued | transferred | kept
    outcome: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One outbound webhook to one endpoint, retried with backoff until delivered or dead-lettered."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(String(2048))
    event_type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: pending | delivered | dead
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]


class RuleRevision(Base):
    """One publish of a rule set: its content hash, files, where it came from, and the verdict.

    Every publish that was validated is a row, ``accepted`` or ``refused`` (with its located errors); a refused
    one never becomes active. Publishes that lost the compare-and-set leave no row.
    """

    __tablename__ = "rule_revisions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: sha256 over the sorted relative paths and bytes of its files (:func:`kefu_host.rules.loader.revision_of`).
    revision: Mapped[str] = mapped_column(String(64), index=True)
    #: The active revision it was based on; None for the first one.
    parent: Mapped[str | None] = mapped_column(String(64))
    #: accepted | refused
    status: Mapped[str] = mapped_column(String(16))
    #: startup | watch | rescan | sighup | api | cli
    trigger: Mapped[str] = mapped_column(String(16))
    #: Who published it: the admin agent, ``admin token``, ``files`` (a node's directory) or the CLI's user.
    author: Mapped[str] = mapped_column(String(191))
    #: Where it was published: a node id, or ``cli@HOST``.
    origin: Mapped[str] = mapped_column(String(191))
    #: The directory it was read from, as the publisher named it (error locations start with it).
    directory: Mapped[str] = mapped_column(String(1024))
    #: Relative paths of every file (the bytes are in ``rule_files``).
    files: Mapped[list[str]] = mapped_column(default=list)
    #: Published with ``force``: the guard against a truncated set was skipped.
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    rules: Mapped[int] = mapped_column(Integer, default=0)
    #: What the guard compares the next publish with.
    rule_ids: Mapped[list[str]] = mapped_column(default=list)
    default_rules: Mapped[list[str]] = mapped_column(default=list)
    #: One line: "loaded 12 rules", or the first error.
    message: Mapped[str] = mapped_column(Text, default="")
    #: Each error of a refused revision: ``{"location": "file:line:col", "message": ..., "text": ...}``.
    errors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RuleFile(Base):
    """The bytes of one file of a rule revision, stored once per content hash."""

    __tablename__ = "rule_files"
    revision: Mapped[str] = mapped_column(String(64), primary_key=True)
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class RuleActive(Base):
    """The one active rule revision of the cluster (a single row, ``id = 1``), moved by compare-and-set."""

    __tablename__ = "rule_active"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    revision_id: Mapped[int] = mapped_column(ForeignKey("rule_revisions.id"))
    revision: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RuleNode(Base):
    """What one host process runs: its heartbeat, written on every load and every ``rules.check_interval``."""

    __tablename__ = "rule_nodes"
    node_id: Mapped[str] = mapped_column(String(191), primary_key=True)
    #: The revision the node runs (None before its first load).
    revision: Mapped[str | None] = mapped_column(String(64))
    loaded_at: Mapped[datetime | None]
    #: The revision of the node's own rules directory, when it could be read.
    files_revision: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
