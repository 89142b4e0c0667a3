"""A payment provider that speaks this plugin's refund contract (README.md) over seeded test payments.

``[plugins.payments] sandbox = true`` serves it inside the host on ``provider_url`` (a loopback address), so an
agent can refund a test payment before any real provider is connected. Like a real provider it keeps the answer of
every ``Idempotency-Key`` and gives it again instead of refunding twice, and it refuses a refund larger than what is
left of the payment. Its state lives in memory: a restart starts from the seeded payments again.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

#: Test payments by order id: the amount paid (README.md, "The sandbox").
PAYMENTS: Mapping[str, str] = {
    "O-1001": "99.90",
    "O-1002": "25.00",
    "O-1003": "5.00",
}
#: Orders whose refunds the sandbox answers with HTTP 500, to show what the agent sees when a provider is down.
FAILING_ORDERS = frozenset({"O-500"})


@dataclass
class PaymentSandbox:
    """The provider side of the refund contract, with its idempotency record and the payments it knows."""

    api_key: str = ""
    payments: dict[str, Decimal] = field(default_factory=lambda: {k: Decimal(v) for k, v in PAYMENTS.items()})
    #: Every refund request as received: ``{"key", "auth", **body}``.
    requests: list[dict[str, Any]] = field(default_factory=list)
    #: How many refunds each idempotency key made (never more than one).
    refunds_by_key: Counter[str] = field(default_factory=Counter)
    answers: dict[str, tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)
    #: The amount refunded so far, by order.
    refunded: dict[str, Decimal] = field(default_factory=dict)
    #: Set when a refund request arrives.
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    #: While cleared, refunds wait before answering (to hold one in flight).
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    #: Refunds of these orders are made, then the answer never comes (the plugin times out).
    hang_after_refund: set[str] = field(default_factory=set)
    ids: Any = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.gate.set()
        self.payments = {order: Decimal(str(paid)) for order, paid in self.payments.items()}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/refunds", self.refund)
        return app

    async def refund(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "bad_request", "the body must be JSON")
        if not isinstance(body, dict):
            return _error(400, "bad_request", "the body must be a JSON object")
        key = request.headers.get("Idempotency-Key", "")
        auth = request.headers.get("Authorization")
        self.requests.append({"key": key, "auth": auth, **body})
        self.arrived.set()
        if self.api_key and auth != f"Bearer {self.api_key}":
            return _error(401, "unauthorized", "bad API key")
        if not key:
            return _error(400, "bad_request", "Idempotency-Key is required")
        if key in self.answers:
            first_body, answer = self.answers[key]
            if first_body != body:
                return _error(422, "idempotency_mismatch", "key reused with other parameters")
            return web.json_response(answer, headers={"Idempotent-Replayed": "true"})
        await self.gate.wait()
        return await self._new_refund(key, body)

    async def _new_refund(self, key: str, body: dict[str, Any]) -> web.Response:
        order = str(body.get("order_id", ""))
        if order in FAILING_ORDERS:
            return _error(500, "internal", "internal")
        paid = self.payments.get(order)
        if paid is None:
            return _error(404, "order_not_found", f"no order {order}")
        try:
            amount = Decimal(str(body.get("amount")))
        except InvalidOperation:
            return _error(400, "bad_request", "amount must be a decimal string")
        if not amount.is_finite() or amount <= 0:
            return _error(400, "bad_request", "amount must be positive")
        left = paid - self.refunded.get(order, Decimal(0))
        if amount > left:
            what = f"the {paid:.2f} paid" if left == paid else f"the {left:.2f} left of {paid:.2f} paid"
            return _error(422, "amount_exceeds_paid", f"refund exceeds {what}")
        answer = {"id": f"re_{next(self.ids)}", "order_id": order, "amount": body["amount"], "status": "succeeded"}
        self.answers[key] = (body, answer)
        self.refunds_by_key[key] += 1
        self.refunded[order] = paid - left + amount
        if order in self.hang_after_refund:
            await asyncio.Event().wait()  # the refund is made; its answer never comes (the caller times out)
        return web.json_response(answer, status=201)


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)
