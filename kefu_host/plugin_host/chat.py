"""``host.conversations`` and ``host.agents``: chat state a plugin reads and the few changes it may make."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kefu_host.chat.accounts import agent_by_name, get_agent
from kefu_host.chat.append import UnknownConversation
from kefu_host.chat.notes import agents_only
from kefu_host.chat.protocol import MAX_BODY_CHARS
from kefu_host.chat.values import AgentView, ConversationView, MessageView

if TYPE_CHECKING:
    from kefu_host.chat.accounts import AgentRecord
    from kefu_host.plugin_host.host import Host

#: The most messages one :meth:`Conversations.messages` call returns.
MAX_MESSAGES = 500
#: The longest idempotency key of :meth:`Conversations.post` (the column of client message ids).
MAX_KEY_CHARS = 100


class Conversations:
    def __init__(self, host: Host, plugin: str) -> None:
        self._host = host
        self._plugin = plugin

    async def get(self, conversation_id: int) -> ConversationView | None:
        """The conversation as it is now (the open conversation's state, read from the store with several
        nodes); None when there is none."""
        service = self._host.chat().service
        state = await service.conversation(conversation_id)
        if state is not None:
            return state.view()
        return await service.repo.conversation(conversation_id)

    async def messages(self, conversation_id: int, after_seq: int = 0, limit: int = 50) -> list[MessageView]:
        """Up to ``limit`` (at most 500) messages after ``after_seq``, oldest first; agents' private notes are
        left out (a plugin may forward what it reads to the customer)."""
        if not 1 <= limit <= MAX_MESSAGES:
            raise ValueError(f"limit must be 1..{MAX_MESSAGES}, got {limit}")
        found = await self._host.chat().service.repo.messages_after(conversation_id, max(0, after_seq), limit)
        return [m for m in found if not agents_only(m.kind)]

    async def post(self, conversation_id: int, text: str, *, key: str | None = None) -> MessageView:
        """Store a system message from this plugin (``sender`` ``system``, ``sender_id`` the plugin's name); both
        sides get it as a ``message`` frame. ``key`` (at most 100 characters) makes it idempotent: the same key in
        the same conversation stores nothing new and returns the first message. LookupError for an unknown
        conversation."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("text must be a non-blank string")
        if len(text) > MAX_BODY_CHARS:
            raise ValueError(f"text is longer than {MAX_BODY_CHARS} characters")
        if key is not None and not 1 <= len(key) <= MAX_KEY_CHARS:
            raise ValueError(f"key must be 1..{MAX_KEY_CHARS} characters")
        try:
            appended = await self._host.chat().service.store_system_message(conversation_id, self._plugin, key, text)
        except UnknownConversation:
            raise LookupError(f"no conversation {conversation_id}") from None
        return appended.message

    async def transfer(
        self, conversation_id: int, *, team: str | None = None, agent: str | None = None, reason: str = ""
    ) -> None:
        """Move an open conversation to ``team`` (preferring ``agent`` when given), as an agent's transfer does;
        hooks see the reason ``plugin:<name>`` (``plugin:<name>:<reason>`` when one is given). LookupError when it
        is not open, ValueError for an unknown team or agent, :class:`~kefu_host.store.StoreBusy` when the host's
        chat lane is full (nothing was moved: try again after its ``retry_after``)."""
        chat = self._host.chat()
        if team is None and agent is None:
            raise ValueError("transfer needs a team or an agent")
        if team is not None and team not in chat.config.chat.teams:
            raise ValueError(f"unknown team {team!r}")
        if agent is not None and await agent_by_name(self._host.store(), agent) is None:
            raise ValueError(f"unknown agent {agent!r}")
        why = f"plugin:{self._plugin}" + (f":{reason}" if reason else "")
        await chat.service.transfer(conversation_id, team=team, agent=agent, reason=why)


class Agents:
    def __init__(self, host: Host) -> None:
        self._host = host

    async def get(self, agent_id: int) -> AgentView | None:
        """The agent with this id (disabled ones too); None when there is none."""
        known = self._host.chat().service.agent(agent_id)
        return known if known is not None else _view(await get_agent(self._host.store(), agent_id))

    async def by_name(self, name: str) -> AgentView | None:
        return _view(await agent_by_name(self._host.store(), name))

    async def holding(self, conversation_id: int) -> AgentView | None:
        """The agent the conversation is assigned to now, or None while it waits or is closed."""
        service = self._host.chat().service
        agent_id = await service.seats.agent_of(conversation_id)
        if agent_id is None:
            return None
        known = service.agent(agent_id)
        return known if known is not None else _view(await get_agent(self._host.store(), agent_id))


def _view(record: AgentRecord | None) -> AgentView | None:
    return AgentView(record.id, record.name, record.teams, record.capacity) if record is not None else None
