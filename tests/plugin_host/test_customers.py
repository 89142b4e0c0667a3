"""``host.customers``: read a customer; change their profile as events do, the agent seeing it at once."""

from __future__ import annotations

import pytest

from kefu_host.sdk import CustomerChange
from tests.plugin_host.conftest import Chat


async def test_an_update_is_stored_and_shown_to_the_agent_holding_the_conversation(chat: Chat) -> None:
    conversation = await chat.plugin.conversations.get(chat.conversation_id)
    assert conversation is not None
    customers = chat.plugin.customers
    before = await customers.get(conversation.customer_id)
    assert before is not None and before.attributes == {}
    after = await customers.update(
        conversation.customer_id,
        CustomerChange(values={"name": "Ann"}, attributes={"tier": "gold"}, ltv_delta=1250),
    )
    assert (after.name, after.attributes, after.ltv_cents) == ("Ann", {"tier": "gold"}, 1250)
    frame = await chat.agent.expect("profile_update")
    assert (frame["conversation_id"], frame["plugin"], frame["event"]) == (chat.conversation_id, "facade", None)
    assert frame["changed"] == ["attributes.tier", "ltv", "name"]
    assert frame["customer"]["name"] == "Ann"
    stored = await customers.get(conversation.customer_id)
    assert stored == after


async def test_a_bad_update_is_refused(chat: Chat) -> None:
    customers = chat.plugin.customers
    with pytest.raises(LookupError):
        await customers.update(10**9, CustomerChange(attributes={"a": 1}))
    with pytest.raises(TypeError, match="CustomerChange"):
        await customers.update(1, {"attributes": {"a": 1}})  # type: ignore[arg-type]
    conversation = await chat.plugin.conversations.get(chat.conversation_id)
    assert conversation is not None
    with pytest.raises(ValueError, match="lifetime value"):
        await customers.update(conversation.customer_id, CustomerChange(ltv_delta=10**18))
