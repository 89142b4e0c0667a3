"""An ERP that speaks this plugin's contract (README.md, "The ERP contract") from a small seeded catalogue.

``[plugins.erp] simulator = true`` serves it inside the host on ``base_url`` (a loopback address), so an agent can
look up stock and orders before any real ERP is connected. A few SKUs answer the ways a real ERP fails, to show
what the agent sees then (README.md, "The simulator").
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

#: Seconds the ``SLOW`` SKU takes to answer: past the plugin's default timeout, so the agent sees a timeout.
SLOW_SECONDS = 30.0

STOCK: Mapping[str, Mapping[str, Any]] = {
    "A1": {"name": "electric kettle", "available": 12,
           "warehouses": [{"code": "SH", "available": 8}, {"code": "BJ", "available": 4}]},
    "B2": {"name": "tea set", "available": 3, "warehouses": [{"code": "SH", "available": 3}]},
    "C3": {"name": "thermos", "available": 0, "warehouses": []},
    "红色/XL": {"name": "红色外套 XL", "available": 5, "warehouses": [{"code": "GZ", "available": 5}]},
}

ORDERS: Mapping[str, Mapping[str, Any]] = {
    "O-1001": {"order_id": "O-1001", "uid": "u-42", "status": "shipped", "total": "99.90", "currency": "CNY",
               "items": [{"sku": "A1", "name": "electric kettle", "quantity": 1}],
               "created_at": "2026-11-20T10:00:00Z"},
    "O-1002": {"order_id": "O-1002", "uid": "u-42", "status": "paid", "total": "25.00", "currency": "CNY",
               "items": [{"sku": "B2", "name": "tea set", "quantity": 1}], "created_at": "2026-11-25T09:30:00Z"},
    "O-1003": {"order_id": "O-1003", "uid": "u-7", "status": "delivered", "total": "5.00", "currency": "CNY",
               "items": [{"sku": "C3", "name": "thermos", "quantity": 1}], "created_at": "2026-11-18T15:00:00Z"},
}


@dataclass
class ErpSimulator:
    """Stock and orders by the contract, with bearer-token auth when ``token`` is set."""

    token: str = ""
    stock: dict[str, dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(dict(STOCK)))
    orders: dict[str, dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(dict(ORDERS)))
    #: Every request as (path with query, Authorization header, client port), oldest first.
    seen: list[tuple[str, str, str | None]] = field(default_factory=list)
    #: Set it to let the ``SLOW`` SKU answer at once.
    release: asyncio.Event = field(default_factory=asyncio.Event)
    slow_seconds: float = SLOW_SECONDS

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes([
            web.get("/v1/stock/{sku}", self.get_stock),
            web.get("/v1/orders/{order_id}", self.get_order),
            web.get("/v1/orders", self.list_orders),
        ])
        return app

    def _refused(self, request: web.Request) -> web.Response | None:
        auth = request.headers.get("Authorization", "")
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.seen.append((request.path_qs, auth, str(peer[1]) if peer else None))
        if self.token and auth != f"Bearer {self.token}":
            return _error(401, "unauthorized", "bad token")
        return None

    async def get_stock(self, request: web.Request) -> web.StreamResponse:
        refused = self._refused(request)
        if refused:
            return refused
        sku = request.match_info["sku"]
        if sku == "SLOW":
            try:
                await asyncio.wait_for(self.release.wait(), self.slow_seconds)
            except TimeoutError:
                pass
        if sku == "BOOM":
            return _error(503, "unavailable", "database is on fire")
        if sku == "HTML":
            return web.Response(text="<html>maintenance</html>", content_type="text/html")
        if sku == "BAD-SHAPE":
            return web.json_response({"sku": sku, "available": "lots"})
        if sku == "BAD-REQ":
            return _error(400, "bad_request", "SKU format is XX-000")
        found = self.stock.get(sku)
        if found is None:
            return _error(404, "not_found", f"unknown SKU {sku}")
        return web.json_response({"sku": sku, **found})

    async def get_order(self, request: web.Request) -> web.StreamResponse:
        refused = self._refused(request)
        if refused:
            return refused
        order = self.orders.get(request.match_info["order_id"])
        if order is None:
            return _error(404, "not_found", "no such order")
        return web.json_response(order)

    async def list_orders(self, request: web.Request) -> web.StreamResponse:
        refused = self._refused(request)
        if refused:
            return refused
        uid = request.query.get("uid", "")
        limit = request.query.get("limit", "10")
        if not uid or not limit.isdigit() or not 1 <= int(limit) <= 50:
            return _error(400, "bad_request", "uid is required and limit is 1 to 50")
        mine = [o for o in self.orders.values() if o["uid"] == uid]
        newest = sorted(mine, key=lambda o: o["created_at"], reverse=True)
        return web.json_response({"orders": newest[: int(limit)]})


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)
