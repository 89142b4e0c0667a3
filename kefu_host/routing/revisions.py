"""Rule revisions in the database: every publish with its files and verdict, the one active pointer, node reports.

The active pointer moves only by compare-and-set: ``UPDATE rule_active ... WHERE revision = <parent>`` (an insert
that does nothing on conflict for the very first one). Two publishes based on the same parent both run it; the
database lets exactly one change the row, the other changes nothing and is told who won (:class:`Conflict`). On
PostgreSQL the same transaction sends ``NOTIFY kefu_rules``, delivered to every listening node when it commits.

Every publish also prunes, in the same transaction: the active revision and the last ``keep`` revisions stay (with
their files), older rows and the files no remaining row names go (``rules.keep_revisions``), so the table stays
small however often a directory changes.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from kefu_host.rules import RuleError
from kefu_host.store import Store
from kefu_host.store.dialect import insert_ignore
from kefu_host.store.models import RuleActive, RuleFile, RuleNode, RuleRevision, utcnow

#: The PostgreSQL channel a publish notifies; the payload is the new active revision's hash.
CHANNEL = "kefu_rules"
_ACTIVE_ROW = 1
#: Revisions a publish keeps by default besides the active one (``rules.keep_revisions``).
KEEP_REVISIONS = 50
#: The advisory lock publishes take on PostgreSQL: a prune never deletes files another node's publish, not yet
#: committed, is reusing (its files were already stored under the same content hash, so it inserted none).
_PUBLISH_LOCK = zlib.crc32(b"kefu-rule-publish") & 0x7FFFFFFF


def error_list(errors: Sequence[RuleError]) -> list[dict[str, Any]]:
    """Errors as stored and as the API shows them: location (``file:line:col``), message and the full text."""
    return [{"location": e.location, "message": e.message, "text": str(e)} for e in errors]


@dataclass(frozen=True)
class Revision:
    """One row of ``rule_revisions`` (see :class:`~kefu_host.store.models.RuleRevision`)."""

    id: int
    revision: str
    parent: str | None
    status: str
    trigger: str
    author: str
    origin: str
    directory: str
    files: tuple[str, ...]
    forced: bool
    rules: int
    rule_ids: frozenset[str]
    default_rules: tuple[str, ...]
    message: str
    errors: tuple[dict[str, Any], ...]
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "revision": self.revision,
            "parent": self.parent,
            "status": self.status,
            "trigger": self.trigger,
            "author": self.author,
            "origin": self.origin,
            "directory": self.directory,
            "files": list(self.files),
            "forced": self.forced,
            "rules": self.rules,
            "message": self.message,
            "errors": list(self.errors),
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class Candidate:
    """A rule set about to be recorded: its content and where it comes from."""

    revision: str
    files: Mapping[str, bytes]
    directory: str
    trigger: str
    author: str
    origin: str
    forced: bool = False


@dataclass(frozen=True)
class Verdict:
    """What validation said: accepted with the set's shape, or refused with a message and the located errors."""

    accepted: bool
    message: str
    rules: int = 0
    rule_ids: frozenset[str] = frozenset()
    default_rules: tuple[str, ...] = ()
    errors: tuple[dict[str, Any], ...] = ()


class Conflict(Exception):
    """The active revision is no longer the parent the publish was based on; ``active`` is what it is now."""

    def __init__(self, parent: str | None, active: Revision | None) -> None:
        self.parent = parent
        self.active = active
        now = f"{active.revision[:12]} (#{active.id}, {active.trigger} by {active.author} from {active.origin})" \
            if active else "none"
        based = parent[:12] if parent else "none"
        super().__init__(f"conflict: the active revision is now {now}, not {based} which this publish was "
                         "based on; publish again to replace it")


@dataclass(frozen=True)
class NodeReport:
    """What one node runs, as its last heartbeat said."""

    node_id: str
    revision: str | None
    loaded_at: datetime | None
    files_revision: str | None
    last_error: str | None
    last_error_at: datetime | None
    started_at: datetime = field(default_factory=utcnow)
    seen_at: datetime = field(default_factory=utcnow)

    def to_dict(self, stale_after: float) -> dict[str, Any]:
        """``stale``: no heartbeat for ``stale_after`` seconds (the node is down, or cannot reach the database)."""
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "node": self.node_id,
            "revision": self.revision,
            "loaded_at": iso(self.loaded_at),
            "files_revision": self.files_revision,
            "last_error": self.last_error,
            "last_error_at": iso(self.last_error_at),
            "started_at": iso(self.started_at),
            "seen_at": iso(self.seen_at),
            "stale": self.seen_at < utcnow() - timedelta(seconds=stale_after),
        }


def _revision(row: Any) -> Revision:
    return Revision(
        id=row.id, revision=row.revision, parent=row.parent, status=row.status, trigger=row.trigger,
        author=row.author, origin=row.origin, directory=row.directory, files=tuple(row.files or ()),
        forced=bool(row.forced), rules=row.rules, rule_ids=frozenset(getattr(row, "rule_ids", None) or ()),
        default_rules=tuple(getattr(row, "default_rules", None) or ()), message=row.message, errors=tuple(row.errors or ()),
        created_at=row.created_at,
    )


_ACTIVE = (
    select(RuleRevision)
    .join(RuleActive, RuleActive.revision_id == RuleRevision.id)
    .where(RuleActive.id == _ACTIVE_ROW)
)


async def active(store: Store) -> Revision | None:
    """The active revision, or None before the first publish."""
    async with store.read() as conn:
        row = (await conn.execute(_ACTIVE)).first()
    return _revision(row) if row else None


async def active_hash(store: Store) -> str | None:
    """Only the active revision's hash: the cheap read of every periodic check."""
    async with store.read() as conn:
        return (await conn.execute(select(RuleActive.revision).where(RuleActive.id == _ACTIVE_ROW))).scalar()


async def files_of(store: Store, revision: str) -> dict[str, bytes]:
    """The files of a revision by relative path (empty if none were stored under that hash)."""
    async with store.read() as conn:
        rows = await conn.execute(select(RuleFile.path, RuleFile.data).where(RuleFile.revision == revision))
        return {path: bytes(data) for path, data in rows}


async def known(store: Store, revision: str) -> bool:
    """Whether a revision with this content was ever published (accepted or refused)."""
    async with store.read() as conn:
        found = await conn.execute(select(RuleRevision.id).where(RuleRevision.revision == revision).limit(1))
        return found.first() is not None


#: What listings read: not the rule ids the guard needs (thousands of them for a big set).
_LISTED = [column for column in RuleRevision.__table__.c if column.name not in ("rule_ids", "default_rules")]


async def recent(store: Store, limit: int = 10) -> list[Revision]:
    """The last ``limit`` publishes, newest first (without their rule ids)."""
    async with store.read() as conn:
        rows = await conn.execute(select(*_LISTED).order_by(RuleRevision.id.desc()).limit(limit))
        return [_revision(row) for row in rows]


async def record(store: Store, candidate: Candidate, verdict: Verdict, parent: str | None,
                 keep: int = KEEP_REVISIONS) -> Revision:
    """Store the candidate and its verdict; an accepted one also becomes active if ``parent`` still is; then
    :func:`prune` to the active revision and the last ``keep``.

    Raises :class:`Conflict` (and stores nothing) when the active revision is no longer ``parent``.
    """
    async def write(conn: AsyncConnection) -> Revision:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PUBLISH_LOCK})
        for path, data in candidate.files.items():
            await insert_ignore(conn, RuleFile, {"revision": candidate.revision, "path": path, "data": data},
                                ["revision", "path"])
        values = {
            "revision": candidate.revision, "parent": parent, "status": "accepted" if verdict.accepted else "refused",
            "trigger": candidate.trigger[:16], "author": candidate.author[:191], "origin": candidate.origin[:191],
            "directory": candidate.directory[:1024], "files": sorted(candidate.files), "forced": candidate.forced,
            "rules": verdict.rules, "rule_ids": sorted(verdict.rule_ids), "default_rules": list(verdict.default_rules),
            "message": verdict.message, "errors": list(verdict.errors), "created_at": utcnow(),
        }
        row_id = (await conn.execute(insert(RuleRevision).values(**values).returning(RuleRevision.id))).scalar_one()
        if verdict.accepted:
            await _move_active(conn, row_id, candidate.revision, parent)
        await prune(conn, keep)
        return _revision(SimpleNamespace(id=row_id, **values))

    result: Revision = await store.writer.transaction(write)
    return result


async def prune(conn: AsyncConnection, keep: int) -> None:
    """Delete the revisions older than the last ``keep`` (by id), except the active one, and the files that no
    remaining revision names. Content pruned away counts as never published: a host starting with such a
    directory publishes it again (through the guard and the compare-and-set, like any publish)."""
    oldest_kept = (select(RuleRevision.id).order_by(RuleRevision.id.desc()).offset(keep - 1).limit(1)
                   .scalar_subquery())
    active_id = select(RuleActive.revision_id).where(RuleActive.id == _ACTIVE_ROW)
    gone = await conn.execute(delete(RuleRevision).where(RuleRevision.id < oldest_kept,
                                                         RuleRevision.id.not_in(active_id)))
    if gone.rowcount:
        await conn.execute(delete(RuleFile).where(RuleFile.revision.not_in(select(RuleRevision.revision))))


async def _move_active(conn: AsyncConnection, row_id: int, revision: str, parent: str | None) -> None:
    values = {"revision_id": row_id, "revision": revision, "updated_at": utcnow()}
    if parent is None:
        moved = await insert_ignore(conn, RuleActive, {"id": _ACTIVE_ROW, **values}, ["id"])
    else:
        result = await conn.execute(
            update(RuleActive).where(RuleActive.id == _ACTIVE_ROW, RuleActive.revision == parent).values(**values)
        )
        moved = result.rowcount == 1
    if not moved:
        row = (await conn.execute(_ACTIVE)).first()
        raise Conflict(parent, _revision(row) if row else None)  # the savepoint rolls back this publish's rows
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_notify(:channel, :revision)"), {"channel": CHANNEL, "revision": revision})


#: A node silent this long is forgotten (its row deleted by the next heartbeat of any node).
FORGET_AFTER = 24 * 3600.0


async def report(store: Store, node: NodeReport) -> None:
    """Write a node's heartbeat (insert or replace its row); forget nodes silent for :data:`FORGET_AFTER`."""
    values = {
        "node_id": node.node_id, "revision": node.revision, "loaded_at": node.loaded_at,
        "files_revision": node.files_revision, "last_error": node.last_error, "last_error_at": node.last_error_at,
        "started_at": node.started_at, "seen_at": utcnow(),
    }

    async def write(conn: AsyncConnection) -> None:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(RuleNode).values(**values)
        changed = {k: stmt.excluded[k] for k in values if k != "node_id"}
        await conn.execute(stmt.on_conflict_do_update(index_elements=["node_id"], set_=changed))
        await conn.execute(delete(RuleNode).where(RuleNode.seen_at < utcnow() - timedelta(seconds=FORGET_AFTER)))

    await store.writer.transaction(write)


async def nodes(store: Store) -> list[NodeReport]:
    async with store.read() as conn:
        rows = await conn.execute(select(RuleNode).order_by(RuleNode.node_id))
        return [
            NodeReport(r.node_id, r.revision, r.loaded_at, r.files_revision, r.last_error, r.last_error_at,
                       r.started_at, r.seen_at)
            for r in rows
        ]


async def forget(store: Store, node_id: str) -> None:
    """Remove a node's row: it is shutting down."""
    async def write(conn: AsyncConnection) -> None:
        await conn.execute(delete(RuleNode).where(RuleNode.node_id == node_id))

    await store.writer.transaction(write)
