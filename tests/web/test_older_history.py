"""A long conversation opens at its end; scrolling back to the top loads the earlier messages, page by page, until its
start, with no message twice and none missing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.async_api import expect

from kefu_host.testing.clients import AgentClient
from tests.web.pages import Console, seqs

COUNT = 130
PASSWORD = "correct horse battery staple"


async def test_scrolling_back_loads_older_messages_up_to_the_start(
    start_web: Callable[..., Any], context: Any, page: Any
) -> None:
    host = await start_web()
    token = await host.add_agent("alice", password=PASSWORD)
    assert host.client is not None
    bot = AgentClient(await host.client.ws_connect("/ws/agent", headers={"Authorization": f"Bearer {token}"}))
    await bot.expect("welcome")
    visitor_token = (await (await host.client.post("/api/visitor/sessions")).json())["token"]
    visitor = await host.client.ws_connect(f"/ws/visitor?token={visitor_token}")
    await visitor.send_json({"type": "send", "client_msg_id": "v-1", "body": "message 1"})
    cid = (await bot.expect("assigned"))["conversation"]["id"]
    for n in range(2, COUNT + 1):  # an agent's messages: no visitor rate to wait for
        await bot.say(cid, f"message {n}", note=n % 10 == 0)

    # a console opened later, signed in by password: the last 100 come with the welcome, older pages through its
    # session
    console = await Console.sign_in(page, host, "alice", PASSWORD)
    await console.conversation(cid).click()
    await expect(console.message(f"message {COUNT}")).to_be_visible()
    await expect(console.messages).to_have_count(100)
    await expect(page.get_by_role("button", name="Load earlier messages")).not_to_be_in_viewport()
    await page.locator("main.conversation .messages").evaluate("box => { box.scrollTop = 0; }")
    await expect(page.get_by_text("Start of the conversation")).to_be_attached()
    # what the agent was reading stays in place while the older messages come in above it
    await expect(console.messages.and_(page.locator('[data-seq="31"]'))).to_be_in_viewport()
    await expect(console.messages.and_(page.locator('[data-seq="1"]'))).not_to_be_in_viewport()
    assert await seqs(console.messages) == [str(n) for n in range(1, COUNT + 1)]
    await expect(console.notes).to_have_count(COUNT // 10)
    await visitor.close()
    await bot.close()
