"""Conversations as a plugin reads and writes them: a transcript without agents' notes, a system message.

For plugins through :mod:`kefu_host.sdk`: ``await transcript(app, conversation_id)`` and
``await post_system_message(app, conversation_id, text, key=...)``, with the ``app`` their ``kefu_startup`` got.
"""

from __future__ import annotations

from aiohttp import web

from kefu_host.chat.append import NewMessage
from kefu_host.chat.values import MessageView
from kefu_host.keys import CHAT

#: The most messages :func:`transcript` returns (the first ones of the conversation).
TRANSCRIPT_LIMIT = 500


async def transcript(app: web.Application, conversation_id: int, limit: int = TRANSCRIPT_LIMIT) -> list[MessageView]:
    """The conversation's messages in seq order, agents' private notes left out (a plugin may pass them on)."""
    return await app[CHAT].service.repo.messages_after(conversation_id, 0, limit, notes=False)


async def post_system_message(app: web.Application, conversation_id: int, text: str, *, sender: str,
                              key: str) -> MessageView:
    """Store ``text`` as a ``system`` message from ``sender`` (a plugin's name) in the conversation: the visitor
    and the agent following it get it like any message. ``key`` (at most 100 characters) makes it idempotent:
    the same key in the same conversation stores nothing new and returns the first message."""
    appended = await app[CHAT].service.repo.append(NewMessage(conversation_id, "system", sender, key, text))
    return appended.message
