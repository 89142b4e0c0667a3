"""``host.conversations`` and ``host.agents`` over a live conversation."""

from __future__ import annotations

import pytest

from tests.plugin_host.conftest import Chat


async def test_a_conversation_and_its_messages_without_notes(chat: Chat) -> None:
    conversations, cid = chat.plugin.conversations, chat.conversation_id
    conversation = await conversations.get(cid)
    assert conversation is not None and (conversation.id, conversation.status) == (cid, "assigned")
    await chat.agent.note(cid, "private: check the refund")
    await chat.agent.say(cid, "on it")
    messages = await conversations.messages(cid)
    assert [(m.sender, m.body) for m in messages] == [("visitor", "hello"), ("agent", "on it")]
    assert [m.body for m in await conversations.messages(cid, after_seq=messages[0].seq)] == ["on it"]
    assert await conversations.messages(cid, after_seq=messages[-1].seq) == []
    assert await conversations.get(10**9) is None
    with pytest.raises(ValueError, match="limit must be 1..500"):
        await conversations.messages(cid, limit=0)


async def test_a_system_message_from_the_plugin_reaches_both_sides(chat: Chat) -> None:
    message = await chat.plugin.conversations.post(chat.conversation_id, "ticket #7 opened")
    assert (message.sender, message.sender_id, message.body) == ("system", "facade", "ticket #7 opened")
    for side in (chat.agent, chat.visitor):
        got = await side.expect("message", body="ticket #7 opened")
        assert (got["sender"], got["sender_id"], got["seq"]) == ("system", "facade", message.seq)
    with pytest.raises(LookupError):
        await chat.plugin.conversations.post(10**9, "nobody")
    with pytest.raises(ValueError, match="non-blank"):
        await chat.plugin.conversations.post(chat.conversation_id, "  ")


async def test_a_transfer_by_the_plugin_is_an_ordinary_transfer_with_its_reason(chat: Chat) -> None:
    conversations, cid = chat.plugin.conversations, chat.conversation_id
    with pytest.raises(ValueError, match="unknown team 'nowhere'"):
        await conversations.transfer(cid, team="nowhere")
    with pytest.raises(ValueError, match="unknown agent 'zed'"):
        await conversations.transfer(cid, agent="zed")
    with pytest.raises(LookupError):
        await conversations.transfer(10**9, team="vip")
    await conversations.transfer(cid, team="vip", reason="escalated")
    assert chat.module.transfers == [("plugin:facade:escalated", "vip")]
    conversation = await conversations.get(cid)
    assert conversation is not None and conversation.team == "vip"


async def test_agents_by_id_name_and_the_one_holding_a_conversation(chat: Chat) -> None:
    agents = chat.plugin.agents
    alice = await agents.by_name("alice")
    assert alice is not None and alice.name == "alice" and alice.teams == ("support", "vip")
    assert await agents.get(alice.id) == alice
    assert await agents.holding(chat.conversation_id) == alice
    assert await agents.by_name("nobody") is None and await agents.get(10**9) is None
