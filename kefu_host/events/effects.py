"""What follows an accepted event: plugins hear it, agents see the new profile at once, queued chats re-route."""

from __future__ import annotations

import structlog

from kefu_host.chat.broker import agent_topic
from kefu_host.chat.protocol import frame
from kefu_host.chat.service import ChatService
from kefu_host.chat.values import CustomerView
from kefu_host.events.types import Event
from kefu_host.hookcall import Hooks
from kefu_host.store import StoreBusy

log = structlog.get_logger("kefu_host.events")


class Effects:
    def __init__(self, hooks: Hooks, chat: ChatService) -> None:
        self.hooks = hooks
        self.chat = chat

    async def after(self, event: Event, customer: CustomerView | None, changed: frozenset[str]) -> None:
        """``customer`` as the event left it (read in the transaction that recorded the event)."""
        if customer is not None:
            self.chat.customer_changed(customer)  # the copy routing reads
        await self.hooks.call("kefu_event_received", event=event, customer=customer)
        if customer is None:
            return
        state = await self.chat.open_conversation_of(customer.id)  # with several nodes: as the store has it
        if state is None:
            return
        if changed and state.agent_id is not None:
            self.chat.hub.publish(
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
            self.chat.hub.publish(
                agent_topic(state.agent_id),
                frame({"type": "customer_event", "conversation_id": state.id, "customer_id": customer.id,
                       "event": event.to_dict()}),
            )
        if state.status == "queued":
            try:
                await self.chat.route(state.id, "event")
            except StoreBusy:  # refused before anything was decided: the chat keeps its place, the event is stored
                log.warning("chat lane full; queued conversation not re-routed for the event",
                            conversation_id=state.id, event_id=event.id)
