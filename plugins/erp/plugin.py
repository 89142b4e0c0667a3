"""The ERP plugin's hooks: stock and order lookups an agent calls from the console like local methods."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog

from kefu_host.sdk import ActionContext, ActionError, AgentAction, LoopbackServer, PluginHost, hookimpl

from .client import ErpClient
from .settings import ErpSettings
from .simulator import ErpSimulator

log = structlog.get_logger("kefu_plugin.erp")

#: An id the ERP reads in a URL path: "." and ".." would be resolved as path steps (``/v1/stock/..`` is ``/v1/``).
_ID = {"type": "string", "minLength": 1, "maxLength": 191, "not": {"enum": [".", ".."]}}
MAX_ORDERS = 50


class ErpPlugin:
    def __init__(self, settings: ErpSettings) -> None:
        self.settings = settings
        self.erp = ErpClient(settings)
        self.host: PluginHost | None = None
        self.simulator: LoopbackServer | None = None

    @hookimpl
    async def kefu_startup(self, host: PluginHost) -> None:
        self.host = host
        self.erp.open(host.http)  # no request yet: an ERP that is down shows up as erp_unavailable answers
        if self.settings.simulator:
            # a busy port fails this hook with one line naming base_url; the host and the plugin keep running
            self.simulator = await LoopbackServer.start(
                ErpSimulator(token=self.settings.token).app(),
                self.settings.base_url,
                name="the ERP simulator (plugins.erp.simulator)",
                setting="plugins.erp.base_url",
            )
            self.erp.base_url = self.simulator.url
            log.info("ERP simulator listening", url=self.simulator.url, hint="simulator = false for a real ERP")

    @hookimpl
    async def kefu_shutdown(self) -> None:
        self.erp.close()
        if self.simulator is not None:
            simulator, self.simulator = self.simulator, None
            await simulator.close()

    @hookimpl
    def kefu_agent_actions(self) -> Sequence[AgentAction]:
        return [
            AgentAction(
                "erp.inventory",
                self.stock,
                {
                    "type": "object",
                    "required": ["sku"],
                    "additionalProperties": False,
                    "properties": {"sku": _ID},
                },
                "units available for a SKU, per warehouse when the ERP says",
            ),
            AgentAction(
                "erp.order",
                self.order,
                {
                    "type": "object",
                    "required": ["order_id"],
                    "additionalProperties": False,
                    "properties": {"order_id": _ID},
                },
                "one order: status, items, total, shipping",
            ),
            AgentAction(
                "erp.orders",
                self.orders,
                {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "uid": _ID,
                        "limit": {"type": "integer", "minimum": 1, "maximum": MAX_ORDERS},
                    },
                },
                "a customer's recent orders (this conversation's customer unless uid is given)",
            ),
        ]

    async def stock(self, ctx: ActionContext, sku: str) -> dict[str, Any]:
        data = await self.erp.get("v1", "stock", sku)
        _require(data, sku=str, available=int)
        return data

    async def order(self, ctx: ActionContext, order_id: str) -> dict[str, Any]:
        data = await self.erp.get("v1", "orders", order_id)
        _require(data, order_id=str, status=str)
        return data

    async def orders(self, ctx: ActionContext, uid: str | None = None, limit: int = 10) -> dict[str, Any]:
        uid = uid or await self._customer_uid(ctx)
        data = await self.erp.get("v1", "orders", params={"uid": uid, "limit": str(limit)})
        found = data.get("orders")
        if not isinstance(found, list) or not all(isinstance(o, dict) for o in found):
            raise ActionError("erp_unavailable", "the ERP gave an answer this plugin cannot read")
        return {"uid": uid, "orders": found[:limit]}

    async def _customer_uid(self, ctx: ActionContext) -> str:
        if ctx.conversation is None:
            raise ActionError("no_customer", "give a uid, or call this from a conversation you hold")
        assert self.host is not None  # actions run only after kefu_startup
        customer = await self.host.customers.get(ctx.conversation.customer_id)
        if customer is None or not customer.uid:
            raise ActionError("no_customer", "this conversation's visitor is not identified; give a uid")
        return str(customer.uid)


def _require(data: dict[str, Any], **fields: type) -> None:
    """The fields the contract promises; an ERP that breaks it is reported, not passed on half-read."""
    for name, kind in fields.items():
        value = data.get(name)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ActionError(
                "erp_unavailable", f"the ERP's answer has no valid {name!r}; tell an administrator"
            )
