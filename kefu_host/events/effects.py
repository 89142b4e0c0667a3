"""What follows an accepted event: plugins hear it, agents see the new profile at once, queued chats re-route."""

from __future__ import annotations

import structlog

from kefu_host.chat.bus import agent_topic
from kefu_host.chat.protocol import frame
from kefu_host.chat.service import ChatService
from kefu_host.chat.values import CustomerView
from kefu_host.events.types import Event
from kefu_host.hookcall import Hooks

log = structlog.get_logger("kefu_host.events")


class Effects:
    def __init__(self, hooks: Hooks, chat: ChatService) -> None:
        self.hooks = hooks
        self.chat = chat

    async def after(self, event: Event, customer: CustomerView | None, changed: frozenset[str]) -> None:
        """``customer`` as the event left it (read in the transaction that recorded the event)."""
        live_id = self.chat.live_by_customer.get(customer.id) if customer is not None else None
        if customer is not None and (live_id is not None or customer.id in self.chat.customers):
            self.chat.customers[customer.id] = customer  # the copy routing reads
        await self.hooks.call("kefu_event_received", event=event, customer=customer)
        if live_id is None or customer is None:
            return
        state = self.chat.live.get(live_id)
        if state is None:
            return
        if changed and state.agent_id is not None:
            self.chat.bus.publish(
                agent_topic(state.agent_id),
                frame(
                    {
                        "type": "profile_update",
                        "conversation_id": state.id,
                        "customer": customer.to_dict(),
                        "changed": sorted(changed),
                        "event": {"id": event.id, "type": event.type},
                    }
                ),
            )
        if state.agent_id is not None:  # the panel's list of recent events, changed profile or not
            self.chat.bus.publish(
                agent_topic(state.agent_id),
                frame({"type": "customer_event", "conversation_id": state.id, "customer_id": customer.id,
                       "event": event.to_dict()}),
            )
        if state.status == "queued":
            await self.chat.route(state.id, "event")
