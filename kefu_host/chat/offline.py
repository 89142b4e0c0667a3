"""The offline form: while no agent of their team is online, a visitor leaves a message with their name and email.

The message is stored like any visitor message: it opens (or reopens) the conversation, which waits in its team's
queue and goes to the first agent who comes online. The contact details go on the customer record first, so that
agent sees them with the conversation, and the conversation is tagged ``offline``: the visitor may be gone, and the
answer may have to go by email.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kefu_host.chat.protocol import FrameError, not_stored, optional_text
from kefu_host.chat.service import ChatService
from kefu_host.chat.state import ConvState
from kefu_host.customers import PROFILE_LIMITS, set_contact
from kefu_host.store import StoreUnavailable

OFFLINE_TAG = "offline"
#: As long as the customer record's columns.
MAX_NAME_CHARS = PROFILE_LIMITS["name"]
MAX_EMAIL_CHARS = PROFILE_LIMITS["email"]
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


@dataclass(frozen=True, slots=True)
class Contact:
    name: str | None
    email: str | None


def parse_contact(data: dict[str, Any]) -> Contact:
    """The optional ``name`` and ``email`` of an ``offline_message`` frame."""
    name = optional_text(data, "name", max_len=MAX_NAME_CHARS)
    email = optional_text(data, "email", max_len=MAX_EMAIL_CHARS)
    if email is not None and not _EMAIL.fullmatch(email):
        raise FrameError("bad_frame", "'email' must be an address like name@example.com")
    return Contact(name, email)


async def keep_contact(service: ChatService, customer_id: int, contact: Contact) -> None:
    """Put the visitor's contact details on their customer record (see :func:`kefu_host.customers.set_contact`).

    An anonymous customer must leave an email unless the record has one: nobody could answer them otherwise."""
    customer = await service.repo.customer(customer_id)
    if customer is None:
        raise FrameError("forbidden", "this visitor session has no customer record; start a new session")
    if customer.uid is None and contact.email is None and not customer.email:
        raise FrameError("bad_frame", "'email' is required, so that an agent can answer after you have left")
    try:
        await set_contact(service.repo.store, customer_id, contact.name, contact.email)
    except StoreUnavailable as exc:
        raise not_stored(exc) from None
    await service.load_customer(customer_id)  # the agent who gets the conversation sees the new details


async def tag_offline(service: ChatService, state: ConvState) -> None:
    """Mark the conversation as left through the offline form (before it is routed, so its agent sees the tag)."""
    async with service.locks(state.id):
        if OFFLINE_TAG not in state.tags:
            state.tags = [*state.tags, OFFLINE_TAG]
            await service.repo.update_conversation(state.id, tags=state.tags)
