"""The payments plugin's own tables: payment outcomes per customer, refunds by their idempotency key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from kefu_host.sdk import PluginStore, UtcDateTime, utcnow

#: Failures count towards ``payment.recent_failures`` for this long after they happened.
FAILURE_WINDOW = timedelta(hours=24)
#: Outcomes are kept this long: past the window, so a late success can still resolve a failure it follows.
RETENTION = timedelta(days=7)

metadata = MetaData()

payment_events = Table(
    "kefu_payment_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_key", String(255), nullable=False, unique=True),  # "<source>/<event id>"
    Column("uid", String(191), nullable=False),
    Column("order_id", String(191), nullable=False),
    Column("kind", String(16), nullable=False),  # "failed" | "succeeded"
    Column("amount", String(40), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reason", String(500), nullable=True),
    Column("occurred_at", UtcDateTime, nullable=False),
    Index("ix_kefu_payment_events_uid_time", "uid", "occurred_at"),
)

refunds = Table(
    "kefu_refunds",
    metadata,
    Column("idempotency_key", String(64), primary_key=True),
    Column("order_id", String(191), nullable=False),
    Column("amount", String(40), nullable=False),
    Column("reason", Text, nullable=False),
    Column("request_id", String(191), nullable=True),
    Column("conversation_id", Integer, nullable=True),
    Column("agent", String(191), nullable=False),
    Column("state", String(16), nullable=False),  # "requested" until the provider accepted it, then "done"
    Column("provider_refund_id", String(191), nullable=True),
    Column("provider_status", String(32), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_kefu_refunds_order", "order_id"),
)


def _resolved() -> Any:
    """For a failure row of ``payment_events``: a success of the same order at or after it exists."""
    succeeded = payment_events.alias("succeeded")
    return exists().where(
        succeeded.c.uid == payment_events.c.uid,
        succeeded.c.order_id == payment_events.c.order_id,
        succeeded.c.kind == "succeeded",
        succeeded.c.occurred_at >= payment_events.c.occurred_at,
    )


@dataclass(frozen=True, slots=True)
class PaymentOutcome:
    event_key: str
    uid: str
    order_id: str
    kind: str
    amount: str
    currency: str
    reason: str | None
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class Refund:
    idempotency_key: str
    order_id: str
    amount: str
    reason: str
    request_id: str | None
    conversation_id: int | None
    agent: str
    state: str
    provider_refund_id: str | None
    provider_status: str | None
    attempts: int
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Refund:
        return cls(**{name: getattr(row, name) for name in cls.__slots__})


class PaymentsStore(PluginStore):
    metadata = metadata

    # --- payment outcomes -----------------------------------------------------------------------------------

    async def record(self, outcome: PaymentOutcome) -> bool:
        """Store one outcome; False when this event was stored before."""
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    insert(payment_events).values(
                        event_key=outcome.event_key,
                        uid=outcome.uid,
                        order_id=outcome.order_id,
                        kind=outcome.kind,
                        amount=outcome.amount,
                        currency=outcome.currency,
                        reason=outcome.reason,
                        occurred_at=outcome.occurred_at,
                    )
                )
        except IntegrityError:
            return False
        return True

    async def recent_failures(self, uid: str, now: datetime) -> list[dict[str, Any]]:
        """Failures of the last 24 h, newest first, with ``resolved``: a later success of the same order."""
        failed, resolved = payment_events, _resolved()
        query = (
            select(failed, resolved.label("resolved"))
            .where(
                failed.c.uid == uid, failed.c.kind == "failed", failed.c.occurred_at >= now - FAILURE_WINDOW
            )
            .order_by(failed.c.occurred_at.desc())
        )
        async with self.engine.connect() as conn:
            rows = await conn.execute(query)
            return [
                {
                    "order_id": r.order_id,
                    "amount": r.amount,
                    "currency": r.currency,
                    "reason": r.reason,
                    "occurred_at": r.occurred_at.isoformat(),
                    "resolved": bool(r.resolved),
                }
                for r in rows
            ]

    async def prune(self, now: datetime) -> int:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(payment_events).where(payment_events.c.occurred_at < now - RETENTION)
            )
            return int(result.rowcount or 0)

    # --- refunds --------------------------------------------------------------------------------------------

    async def refund(self, key: str) -> Refund | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(refunds).where(refunds.c.idempotency_key == key))).first()
        return Refund.from_row(row) if row else None

    async def begin_refund(
        self,
        key: str,
        *,
        order_id: str,
        amount: str,
        reason: str,
        request_id: str | None,
        conversation_id: int | None,
        agent: str,
    ) -> Refund:
        """The refund under ``key``, recorded as requested unless it was recorded before (by any process)."""
        now = utcnow()
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    insert(refunds).values(
                        idempotency_key=key,
                        order_id=order_id,
                        amount=amount,
                        reason=reason,
                        request_id=request_id,
                        conversation_id=conversation_id,
                        agent=agent,
                        state="requested",
                        attempts=0,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            pass  # recorded already: the caller decides from its state
        found = await self.refund(key)
        assert found is not None
        return found

    async def attempt(self, key: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(refunds)
                .where(refunds.c.idempotency_key == key)
                .values(attempts=refunds.c.attempts + 1, updated_at=utcnow())
            )

    async def refund_failed(self, key: str, error: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(refunds)
                .where(refunds.c.idempotency_key == key)
                .values(last_error=error[:2000], updated_at=utcnow())
            )

    async def refund_done(self, key: str, provider_refund_id: str, provider_status: str) -> Refund:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(refunds)
                .where(refunds.c.idempotency_key == key)
                .values(
                    state="done",
                    provider_refund_id=provider_refund_id,
                    provider_status=provider_status,
                    last_error=None,
                    updated_at=utcnow(),
                )
            )
        found = await self.refund(key)
        assert found is not None
        return found

    async def count_failures(self, uid: str, now: datetime) -> int:
        """What ``payment.recent_failures`` reads: unresolved failures of the last 24 h."""
        failed, resolved = payment_events, _resolved()
        query = (
            select(func.count())
            .select_from(failed)
            .where(
                failed.c.uid == uid,
                failed.c.kind == "failed",
                failed.c.occurred_at >= now - FAILURE_WINDOW,
                ~resolved,
            )
        )
        async with self.engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())
