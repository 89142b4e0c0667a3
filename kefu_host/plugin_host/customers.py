"""``host.customers``: read a customer, change their profile the way business events do."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kefu_host.chat.values import CustomerView
from kefu_host.customers import apply_change
from kefu_host.events.changes import CustomerChange

if TYPE_CHECKING:
    from kefu_host.plugin_host.host import Host


class Customers:
    def __init__(self, host: Host, plugin: str) -> None:
        self._host = host
        self._plugin = plugin

    async def get(self, customer_id: int) -> CustomerView | None:
        """The customer with this id, as stored now; None when there is none."""
        return await self._host.chat().service.repo.customer(customer_id)

    async def update(self, customer_id: int, change: CustomerChange) -> CustomerView:
        """Apply ``change`` (profile ``values``, ``attributes``, ``ltv_delta``) as of now and return the customer.

        As for events, a value is stamped with the time it was set, so a business event that happened later still
        wins. Routing sees the new profile at once and the agent holding the customer's live conversation gets a
        ``profile_update`` frame with ``plugin`` naming this plugin. LookupError for an unknown customer,
        ValueError for a lifetime value past its limit.
        """
        if not isinstance(change, CustomerChange):
            raise TypeError(f"expected a CustomerChange, got {type(change).__name__}")
        customer, changed = await apply_change(self._host.store(), customer_id, change)
        await self._host.chat().service.customer_updated(customer, changed, {"event": None, "plugin": self._plugin})
        return customer
