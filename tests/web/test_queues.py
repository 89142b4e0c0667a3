"""The console's left column, live: my teams' queues (what waits, with the visitor's latest message, and Take), my
conversations with unread counts that reset when opened and survive a reload (the host keeps them)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

from playwright.async_api import expect

from kefu_host.keys import CHAT
from kefu_host.testing.clients import AgentClient, VisitorClient
from tests.web.conftest import TIMEOUT_MS, Watch, screenshot_path
from tests.web.pages import Console, Widget


async def until(condition: Callable[[], bool], tries: int = 1000) -> None:
    """Wait for the host's state to satisfy ``condition`` (yielding to the loop the host runs on)."""
    for _ in range(tries):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the host never reached the expected state")


async def test_queues_take_and_unread_counts_live(
    start_web: Callable[..., Any], browser: Any, context: Any, page: Any, watch: Watch
) -> None:
    host = await start_web()
    assert host.client is not None
    console = await Console.open(page, host, await host.add_agent("alice", teams=("support",)))
    await page.get_by_label("Status").select_option("away")  # nothing is given to alice: it waits in the queue
    await expect(page.get_by_label("Status")).to_have_value("away")
    queue = page.locator('.queues .queue[data-team="support"]')
    await expect(queue.locator(".queue-count")).to_have_text("0")
    # bob is online with room for one chat: the team is staffed (the widget offers the live chat), then full
    bob = AgentClient(await host.client.ws_connect(
        "/ws/agent", headers={"Authorization": f"Bearer {await host.add_agent('bob', capacity=1)}"}))
    await bob.expect("welcome")
    session = await (await host.client.post("/api/visitor/sessions", json={})).json()
    someone = VisitorClient(await host.client.ws_connect(f"/ws/visitor?token={session['token']}"))
    await someone.expect("welcome")
    await someone.say("I am bob's")
    await bob.expect("assigned")

    first = await Widget.open_demo(await context.new_page(), host)
    await first.send("我的快递到哪了？")
    waiting = queue.locator(".queue-item")
    await expect(queue.locator(".queue-count")).to_have_text("1")
    await expect(waiting).to_have_count(1)
    await expect(waiting.locator(".conv-last")).to_have_text("我的快递到哪了？")
    await expect(waiting.locator(".unread")).to_have_text("1")
    await first.send("order 7")
    await expect(waiting.locator(".conv-last")).to_have_text("order 7")  # the latest message, live
    await expect(waiting.locator(".unread")).to_have_text("2")
    if path := screenshot_path("console-queue.png"):
        await page.screenshot(path=str(path))

    await waiting.get_by_role("button", name=re.compile("^Take")).click()
    await expect(queue.locator(".queue-count")).to_have_text("0")
    await expect(console.conversation()).to_have_count(1)
    await expect(console.message("order 7")).to_be_visible()  # opened by itself: read
    await expect(console.conversation().locator(".unread")).to_have_count(0)
    await expect(first.status).to_have_text("alice is helping you")

    other_context = await browser.new_context(locale="en-US")  # another visitor, in another browser
    other_context.set_default_timeout(TIMEOUT_MS)
    try:
        second = await Widget.open_demo(await other_context.new_page(), host)
        await second.send("hello from another customer")
        await expect(waiting).to_have_count(1)
        await waiting.get_by_role("button", name=re.compile("^Take")).click()
        await expect(console.conversation()).to_have_count(2)
        later = console.conversation().filter(has_text="another customer")
        await expect(later.locator(".unread")).to_have_text("1")  # not the open one: unread
        later_id = int(await later.get_attribute("data-conversation-id") or 0)
        later = console.conversation(later_id)
        await second.send("are you there?")
        await expect(later.locator(".unread")).to_have_text("2")
        await first.send("still waiting")
        await expect(console.message("still waiting")).to_be_visible()  # the open one: read at once
        await expect(console.conversation().locator(".unread")).to_have_count(1)  # only the other one's

        await page.reload()  # the host kept the counts
        await console.expect_connected()
        await expect(console.conversation()).to_have_count(2)
        await expect(later.locator(".unread")).to_have_text("2")
        await later.click()
        await expect(console.message("are you there?")).to_be_visible()
        await expect(later.locator(".unread")).to_have_count(0)
        await until(lambda: host.app[CHAT].service.live[later_id].unread == 0)  # the read frame has arrived
        await page.reload()
        await console.expect_connected()
        await expect(console.conversation()).to_have_count(2)
        await expect(later).to_contain_text("are you there?")
        await expect(page.locator("nav.conversations .unread")).to_have_count(0)
    finally:
        await other_context.close()
        await bob.close()
        await someone.close()
    assert watch.page_errors == [] and watch.console_errors == []
