"""A payment provider speaking the refund contract in plugins/payments/README.md, for the plugin's tests."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

API_KEY = "sk_test_provider"


@dataclass
class ProviderSimulator:
    """The provider side of the refund contract in plugins/payments/README.md, with an idempotency record."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    refunds_by_key: Counter[str] = field(default_factory=Counter)
    answers: dict[str, tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    #: While cleared, refunds wait before answering (to hold one in flight).
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    #: Refunds of these orders are made, then the answer never comes (the plugin times out).
    hang_after_refund: set[str] = field(default_factory=set)
    ids: Any = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.gate.set()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/refunds", self.refund)
        return app

    async def refund(self, request: web.Request) -> web.Response:
        body = await request.json()
        key = request.headers.get("Idempotency-Key", "")
        self.requests.append({"key": key, "auth": request.headers.get("Authorization"), **body})
        self.arrived.set()
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return web.json_response({"error": {"code": "unauthorized", "message": "bad key"}}, status=401)
        if not key:
            return web.json_response({"error": {"message": "Idempotency-Key is required"}}, status=400)
        if key in self.answers:
            first_body, answer = self.answers[key]
            if first_body != body:
                return web.json_response(
                    {"error": {"message": "key reused with other parameters"}}, status=422
                )
            return web.json_response(answer, headers={"Idempotent-Replayed": "true"})
        await self.gate.wait()
        order = body["order_id"]
        if order == "O-404":
            return web.json_response(
                {"error": {"code": "order_not_found", "message": "no order O-404"}}, status=404
            )
        if order == "O-PAID-5":
            return web.json_response(
                {"error": {"code": "amount_exceeds_paid", "message": "refund exceeds the 5.00 paid"}},
                status=422,
            )
        if order == "O-500":
            return web.json_response({"error": {"message": "internal"}}, status=500)
        answer = {
            "id": f"re_{next(self.ids)}",
            "order_id": order,
            "amount": body["amount"],
            "status": "succeeded",
        }
        self.answers[key] = (body, answer)
        self.refunds_by_key[key] += 1
        if order in self.hang_after_refund:
            await asyncio.sleep(3600)
        return web.json_response(answer, status=201)
