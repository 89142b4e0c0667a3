"""The embedding page's side: the bubble, the unread badge, kefu(...) and the postMessage checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.async_api import expect

from kefu_host.testing.clients import AgentClient
from tests.web.pages import FRAME, Widget

FORGED_THEN_SENTINEL = """() => new Promise((resolve) => {
  window.addEventListener('message', (e) => {
    if (e.data === 'sentinel') resolve(document.querySelector('.kefu-unread').textContent);
  });
  window.postMessage({kefu: 1, type: 'unread', count: 7}, '*');   // from the page itself, not from the frame
  window.postMessage('sentinel', '*');
})"""


async def test_open_close_and_the_unread_badge(start_web: Callable[..., Any], page: Any) -> None:
    host = await start_web()
    token = await host.add_agent("alice")
    assert host.client is not None
    agent = AgentClient(await host.client.ws_connect("/ws/agent", headers={"Authorization": f"Bearer {token}"}))
    await agent.expect("welcome")
    widget = await Widget.open_demo(page, host)
    frame = page.locator(FRAME)
    await expect(frame).to_be_visible()
    await expect(widget.bubble).to_have_attribute("aria-expanded", "true")
    await widget.send("hello")
    cid = (await agent.expect("assigned"))["conversation"]["id"]

    await page.evaluate("kefu('close')")
    await expect(frame).to_be_hidden()
    await expect(widget.bubble).to_have_attribute("aria-expanded", "false")
    await agent.say(cid, "are you still there?")
    await expect(widget.badge).to_have_text("1")
    await expect(widget.badge).to_have_attribute("aria-label", "1 unread messages")
    await agent.say(cid, "we are here to help")
    await expect(widget.badge).to_have_text("2")

    assert await page.evaluate(FORGED_THEN_SENTINEL) == "2"  # a message not from the frame changes nothing

    await page.evaluate("kefu('open')")
    await expect(frame).to_be_visible()
    await expect(widget.badge).to_be_hidden()
    await expect(widget.message("we are here to help")).to_be_visible()
    await widget.frame.get_by_role("button", name="Minimise chat").click()
    await expect(frame).to_be_hidden()
    await page.get_by_role("button", name="Open chat").click()
    await expect(frame).to_be_visible()
    await agent.close()


async def test_a_reload_keeps_the_visitor_and_the_conversation(start_web: Callable[..., Any], page: Any) -> None:
    host = await start_web()
    token = await host.add_agent("alice")
    assert host.client is not None
    agent = AgentClient(await host.client.ws_connect("/ws/agent", headers={"Authorization": f"Bearer {token}"}))
    await agent.expect("welcome")
    widget = await Widget.open_demo(page, host)
    await widget.send("first visit")
    cid = (await agent.expect("assigned"))["conversation"]["id"]
    await agent.say(cid, "welcome back any time")
    await expect(widget.messages).to_have_count(2)

    await page.reload()
    await widget.bubble.click()
    await expect(widget.status).to_have_attribute("data-connection", "open")
    await expect(widget.messages.locator(".body")).to_have_text(["first visit", "welcome back any time"])
    await expect(widget.status).to_have_text("alice is helping you")
    await widget.send("back again")
    message = await agent.expect("message", body="back again")
    assert message["conversation_id"] == cid and message["seq"] == 3
    await agent.close()


async def test_a_site_not_in_allowed_origins_gets_no_chat(start_web: Callable[..., Any], page: Any) -> None:
    """localhost is another origin than 127.0.0.1: the same demo page served from it is a foreign site."""
    host = await start_web()
    await page.goto(f"http://localhost:{host.port}/demo")
    await page.locator("button.kefu-bubble").click()
    refused = page.frame_locator(FRAME).locator("body")
    await expect(refused).to_contain_text("origin_not_allowed")
    await expect(refused).to_contain_text(f"http://localhost:{host.port}")
    await expect(page.frame_locator(FRAME).locator("#visitor-composer")).to_have_count(0)


async def test_set_user_switches_an_anonymous_chat_to_the_verified_customer(
    start_web: Callable[..., Any], page: Any
) -> None:
    from tests.web.conftest import user_hash

    host = await start_web()
    token = await host.add_agent("alice")
    assert host.client is not None
    agent = AgentClient(await host.client.ws_connect("/ws/agent", headers={"Authorization": f"Bearer {token}"}))
    await agent.expect("welcome")
    widget = await Widget.open_demo(page, host)
    await widget.send("browsing anonymously")
    anonymous = await agent.expect("assigned")
    assert anonymous["customer"]["uid"] is None

    await page.evaluate("([id, hash]) => kefu('setUser', {id, hash, name: 'Li Lei'})", ["u-7", user_hash("u-7")])
    await expect(widget.messages).to_have_count(0)  # another customer's conversation
    await expect(widget.status).to_have_attribute("data-connection", "open")
    await widget.send("now I am logged in")
    identified = await agent.expect("assigned")
    assert identified["customer"]["uid"] == "u-7" and identified["customer"]["name"] == "Li Lei"
    assert identified["conversation"]["id"] != anonymous["conversation"]["id"]

    await page.evaluate("kefu('setUser', {id: 'u-8', hash: 'forged'})")  # refused by the host: anonymous again
    await expect(widget.messages).to_have_count(0)
    await expect(widget.status).to_have_attribute("data-connection", "open")
    await widget.send("who am I?")
    fallback = await agent.expect("assigned")
    assert fallback["customer"]["uid"] is None
    await agent.close()
