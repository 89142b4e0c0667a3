"""The payments plugin's hooks: payment outcome events, the ``payment.recent_failures`` field, refunds."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import weakref
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import structlog
from sqlalchemy.exc import InterfaceError, OperationalError

from kefu_host.sdk import (
    MAX_AMOUNT,
    ActionContext,
    ActionError,
    AgentAction,
    CustomerView,
    Event,
    EventType,
    FieldSpec,
    FieldType,
    LoopbackServer,
    PluginHost,
    hookimpl,
    utcnow,
)

from .provider import ProviderClient
from .sandbox import PaymentSandbox
from .settings import PaymentsSettings
from .store import PaymentOutcome, PaymentsStore, Refund

log = structlog.get_logger("kefu_plugin.payments")

_DB_DOWN = (OperationalError, InterfaceError, OSError)
PRUNE_EVERY = 3600.0
_UID = {"type": "string", "minLength": 1, "maxLength": 191}
_ORDER = {"type": "string", "minLength": 1, "maxLength": 191}
#: At most the host's largest event amount (10^12), however it is written.
_AMOUNT = {
    "anyOf": [
        {"type": "number", "exclusiveMinimum": 0, "maximum": int(MAX_AMOUNT)},
        {"type": "string", "pattern": r"^\d{1,12}(\.\d{1,4})?$"},
    ]
}
_CURRENCY = {"type": "string", "pattern": "^[A-Za-z]{3}$"}
_OUTCOME = {"uid": _UID, "order_id": _ORDER, "amount": _AMOUNT, "currency": _CURRENCY}
EVENT_TYPES = (
    EventType(
        "payment.failed",
        {
            "type": "object",
            "required": ["uid", "order_id", "amount", "currency", "reason"],
            "properties": {**_OUTCOME, "reason": {"type": "string", "maxLength": 500}},
        },
        "a payment of the customer failed; counts towards payment.recent_failures for 24 h",
    ),
    EventType(
        "payment.succeeded",
        {"type": "object", "required": ["uid", "order_id", "amount", "currency"], "properties": _OUTCOME},
        "a payment went through; it resolves earlier failures of the same order (LTV comes from order.paid)",
    ),
)


def amount_text(amount: float | str) -> str:
    """A positive amount as a plain decimal string ("12.5"), the same for 12.5, "12.50" and 12.50."""
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        raise ActionError("bad_args", f"amount: {amount!r} is not a number") from None
    if not value.is_finite() or value <= 0 or value > MAX_AMOUNT:
        raise ActionError("bad_args", f"amount: {amount!r} must be a positive amount")
    return format(value.normalize(), "f")


def idempotency_key(order_id: str, amount: str, scope: str) -> str:
    """sha256 of order id, normalised amount and scope ("request:<id>" or "conversation:<id>"), hex."""
    return hashlib.sha256(f"{order_id}\x1f{amount}\x1f{scope}".encode()).hexdigest()


class FailureCounts:
    """``payment.recent_failures`` by uid for ``ttl`` seconds: routing asks before every decision."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._values: dict[str, tuple[float, int]] = {}

    def get(self, uid: str) -> int | None:
        hit = self._values.get(uid)
        return hit[1] if hit is not None and hit[0] >= time.monotonic() else None

    def put(self, uid: str, value: int) -> None:
        if self.ttl > 0:
            self._values[uid] = (time.monotonic() + self.ttl, value)

    def forget(self, uid: str) -> None:
        self._values.pop(uid, None)


class PaymentsPlugin:
    def __init__(self, settings: PaymentsSettings) -> None:
        self.settings = settings
        self.provider = ProviderClient(settings)
        self.store: PaymentsStore | None = None
        self.counts = FailureCounts(settings.facts_ttl)
        # one lock per idempotency key: identical refunds in this process run one after the other
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self.host: PluginHost | None = None
        self._opening = asyncio.Lock()
        self._pruner: asyncio.Task[None] | None = None
        self.sandbox: LoopbackServer | None = None

    # --- lifecycle ------------------------------------------------------------------------------------------

    @hookimpl
    async def kefu_startup(self, host: PluginHost) -> None:
        self.host = host
        self.provider.open(host.http)
        try:
            # a failure shows in /api/plugins; the next call that needs the database tries again
            await (await self._open()).prune(utcnow())
        finally:
            self._pruner = asyncio.get_running_loop().create_task(self._prune_forever())
            if self.settings.sandbox:
                await self._start_sandbox()

    async def _start_sandbox(self) -> None:
        # a busy port fails this hook with one line naming provider_url; the host and the plugin keep running
        self.sandbox = await LoopbackServer.start(
            PaymentSandbox(api_key=self.settings.api_key).app(),
            self.settings.provider_url,
            name="the payment sandbox (plugins.payments.sandbox)",
            setting="plugins.payments.provider_url",
        )
        self.provider.url = self.sandbox.url
        log.info("payment sandbox listening", url=self.sandbox.url, hint="sandbox = false for a real provider")

    @hookimpl
    async def kefu_shutdown(self) -> None:
        if self._pruner is not None:
            self._pruner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pruner
        self.provider.close()
        if self.sandbox is not None:
            sandbox, self.sandbox = self.sandbox, None
            await sandbox.close()
        if self.store is not None:
            store, self.store = self.store, None
            await store.close()

    async def _open(self) -> PaymentsStore:
        async with self._opening:
            if self.store is None:
                if self.host is None:
                    raise RuntimeError("the payments plugin has not started")
                self.store = await self.host.open_store(PaymentsStore, self.settings.dsn)
            return self.store

    async def _ready(self) -> PaymentsStore:
        try:
            return self.store or await self._open()
        except _DB_DOWN as exc:
            raise _db_unavailable(exc) from None

    async def _prune_forever(self) -> None:
        """Drop outcomes past their use now and then, so the table holds a few days of failures."""
        while True:
            await asyncio.sleep(PRUNE_EVERY)
            if self.store is not None:
                try:
                    await self.store.prune(utcnow())
                except _DB_DOWN as exc:
                    log.warning("pruning payment outcomes failed", error=str(exc))

    # --- events and the rule field --------------------------------------------------------------------------

    @hookimpl
    def kefu_event_types(self) -> Sequence[EventType]:
        return EVENT_TYPES

    @hookimpl
    async def kefu_event_received(self, event: Event) -> None:
        if event.type not in ("payment.failed", "payment.succeeded"):
            return
        data = event.data
        store = self.store or await self._open()  # a database error here is logged and counted by the host
        await store.record(
            PaymentOutcome(
                event_key=f"{event.source}/{event.id}",
                uid=data["uid"],
                order_id=data["order_id"],
                kind=event.type.removeprefix("payment."),
                amount=str(data["amount"]),
                currency=data["currency"].upper(),
                reason=data.get("reason"),
                occurred_at=event.occurred_at,
            )
        )
        self.counts.forget(data["uid"])

    @hookimpl
    def kefu_rule_fields(self) -> Sequence[FieldSpec]:
        return [
            FieldSpec(
                "payment.recent_failures",
                FieldType.NUMBER,
                "Failed payments of the customer in the last 24 h not followed by a success of the "
                "same order (from the payments plugin).",
            )
        ]

    @hookimpl
    async def kefu_conversation_facts(self, customer: CustomerView) -> Mapping[str, Any] | None:
        if customer.uid is None:
            return {
                "payment.recent_failures": 0
            }  # payment events name customers by uid: an anonymous one has none
        count = self.counts.get(customer.uid)
        if count is None:
            if self.store is None:
                return None  # unknown, not zero: rules on the field stay false until the database is back
            count = await self.store.count_failures(customer.uid, utcnow())
            self.counts.put(customer.uid, count)
        return {"payment.recent_failures": count}

    # --- agent actions --------------------------------------------------------------------------------------

    @hookimpl
    def kefu_agent_actions(self) -> Sequence[AgentAction]:
        return [
            AgentAction(
                "payments.refund",
                self.refund,
                {
                    "type": "object",
                    "required": ["order_id", "amount", "reason"],
                    "additionalProperties": False,
                    "properties": {
                        "order_id": _ORDER,
                        "amount": _AMOUNT,
                        "reason": {"type": "string", "minLength": 1, "maxLength": 500},
                        "request_id": {"type": "string", "minLength": 1, "maxLength": 100},
                    },
                },
                "refund an order at the payment provider, at most once per order, amount and request",
            ),
            AgentAction(
                "payments.failures",
                self.failures,
                {"type": "object", "additionalProperties": False, "properties": {"uid": _UID}},
                "failed payments of the last 24 h (the conversation's customer unless uid is given)",
            ),
        ]

    async def refund(
        self,
        ctx: ActionContext,
        order_id: str,
        amount: float | str,
        reason: str,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        text = amount_text(amount)
        if request_id is not None:
            scope = f"request:{request_id}"
        elif ctx.conversation is not None:
            scope = f"conversation:{ctx.conversation.id}"
        else:
            raise ActionError("bad_args", "request_id: required when the call names no conversation")
        key = idempotency_key(order_id, text, scope)
        store = await self._ready()
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            try:
                # recorded before the provider is asked: no refund goes out that this table does not know of
                record = await store.begin_refund(
                    key,
                    order_id=order_id,
                    amount=text,
                    reason=reason,
                    request_id=request_id,
                    conversation_id=ctx.conversation.id if ctx.conversation else None,
                    agent=ctx.agent.name,
                )
                if record.state == "done":
                    return _result(record, duplicate=True)
                await store.attempt(key)
            except _DB_DOWN as exc:
                raise _db_unavailable(exc) from None
            try:
                answer = await self.provider.refund(key, order_id, text, reason)
            except ActionError as exc:
                with contextlib.suppress(*_DB_DOWN):
                    await store.refund_failed(key, f"{exc.code}: {exc.message}")
                raise
            try:
                done = await store.refund_done(key, answer.id, answer.status)
            except _DB_DOWN as exc:
                # the provider did refund; a repeat call asks again with the same key and records the answer
                log.error(
                    "refund done but not recorded", idempotency_key=key, refund_id=answer.id, error=str(exc)
                )
                raise _db_unavailable(exc) from None
            log.info(
                "refund",
                order_id=order_id,
                amount=text,
                refund_id=answer.id,
                replayed=answer.replayed,
                agent=ctx.agent.name,
            )
            return _result(done, duplicate=answer.replayed)

    async def failures(self, ctx: ActionContext, uid: str | None = None) -> dict[str, Any]:
        if uid is None:
            customer = (
                await self.host.customers.get(ctx.conversation.customer_id)
                if ctx.conversation is not None and self.host is not None
                else None
            )
            if customer is None or not customer.uid:
                raise ActionError(
                    "no_customer", "give a uid, or call this from a conversation with an identified customer"
                )
            uid = str(customer.uid)
        store = await self._ready()
        try:
            found = await store.recent_failures(uid, utcnow())
        except _DB_DOWN as exc:
            raise _db_unavailable(exc) from None
        return {"uid": uid, "recent_failures": sum(not f["resolved"] for f in found), "failures": found}


def _result(refund: Refund, *, duplicate: bool) -> dict[str, Any]:
    return {
        "refund_id": refund.provider_refund_id,
        "status": refund.provider_status,
        "order_id": refund.order_id,
        "amount": refund.amount,
        "idempotency_key": refund.idempotency_key,
        "duplicate": duplicate,
        "requested_by": refund.agent,
        "created_at": refund.created_at.isoformat(),
    }


def _db_unavailable(exc: BaseException) -> ActionError:
    log.warning("payments database unavailable", error=str(exc))
    return ActionError("payments_unavailable", "the payments database is not reachable; nothing was refunded")
