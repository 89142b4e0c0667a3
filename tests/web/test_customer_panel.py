"""The customer panel shows who the agent is talking to, and signed business events change it live: no reload."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from tests.web.conftest import screenshot_path, user_hash
from tests.web.pages import Console, Widget
from tests.web.test_actions import PLUGIN


async def test_a_signed_profile_event_changes_the_open_console_without_a_reload(
    start_web: Callable[..., Any], context: Any, page: Any, tmp_path: Path
) -> None:
    (tmp_path / "erp.py").write_text(textwrap.dedent(PLUGIN))  # panels beside the customer, as in production
    host = await start_web(plugins=[(str(tmp_path / "erp.py"), {})])
    console = await Console.open(page, host, await host.add_agent("alice"))
    user = {"id": "u-42", "hash": user_hash("u-42"), "name": "Li Lei", "email": "li@example.com"}
    widget = await Widget.open_demo(await context.new_page(), host, user=user)
    await widget.send("我的订单什么时候发货？")
    await expect(console.customer.locator('[data-field="name"]')).to_have_text("Li Lei")
    await expect(console.customer.locator('[data-field="uid"]')).to_have_text("u-42")
    await expect(console.customer.locator('[data-field="email"]')).to_have_text("li@example.com")
    await expect(console.conversation()).to_contain_text("Li Lei")
    await page.evaluate("window.__sameDocument = true")

    await host.send_event("user.profile_updated", {"uid": "u-42", "name": "韩梅梅", "attributes": {"tier": "gold"}})
    name = console.customer.locator('[data-field="name"]')
    await expect(name).to_have_text("韩梅梅")
    await expect(name).to_have_class("customer-name changed")
    await expect(console.customer.locator(".attributes")).to_contain_text("tier")
    await expect(console.customer.locator(".attributes")).to_contain_text("gold")
    await expect(console.conversation()).to_contain_text("韩梅梅")
    await expect(console.page.locator("#conversation-title")).to_contain_text("韩梅梅")

    await host.send_event("user.login", {"uid": "u-42", "extra": {"vip_level": 3}})
    await expect(console.customer.locator('[data-field="vip_level"]')).to_have_text("VIP 3")
    await expect(console.customer.locator('[data-field="name"]')).not_to_have_class("customer-name changed")
    await expect(console.conversation()).to_contain_text("VIP 3")
    await host.send_event("order.paid", {"uid": "u-42", "order_id": "o-1", "amount": "1288.50", "currency": "CNY"})
    await expect(console.customer.locator('[data-field="ltv"]')).to_have_text("1,288.50")
    await expect(console.customer.locator('[data-field="ltv"]')).to_have_class("changed")
    assert await page.evaluate("window.__sameDocument") is True  # the page never reloaded

    await console.send("您好韩女士，今天下午发货。")
    await expect(widget.message("今天下午发货")).to_be_visible()
    if path := screenshot_path("console.png"):
        await page.screenshot(path=str(path))


async def test_business_events_show_in_the_panel_live_and_after_a_reload(
    start_web: Callable[..., Any], context: Any, page: Any
) -> None:
    host = await start_web()
    console = await Console.open(page, host, await host.add_agent("alice"))
    await host.send_event("user.login", {"uid": "u-7", "ip": "10.1.2.3"})  # before the chat: from the store
    user = {"id": "u-7", "hash": user_hash("u-7"), "name": "Wang Fang"}
    widget = await Widget.open_demo(await context.new_page(), host, user=user)
    await widget.send("my payment did not go through")
    events = console.customer.locator("ol.events li")
    await expect(events).to_have_count(1)
    await expect(events.first).to_have_attribute("data-event-type", "user.login")
    await expect(events.first.locator(".event-type")).to_have_text("Signed in")
    await expect(events.first.locator(".event-details")).to_have_text("ip: 10.1.2.3")
    await page.evaluate("window.__sameDocument = true")

    await host.send_event("order.paid", {"uid": "u-7", "order_id": "o-88", "amount": "59.00", "currency": "CNY"})
    await expect(events).to_have_count(2)
    newest = events.first
    await expect(newest).to_have_attribute("data-event-type", "order.paid")
    await expect(newest.locator(".event-type")).to_have_text("Order paid")
    await expect(newest.locator(".event-details")).to_contain_text("order_id: o-88")
    await expect(newest).to_have_class("changed")  # arrived while the console was open
    await expect(events.nth(1)).not_to_have_class("changed")
    await host.send_event("order.refunded", {"uid": "u-7", "order_id": "o-88", "amount": "59.00",
                                             "currency": "CNY", "note": "<img src=x onerror=alert(1)>"})
    await expect(events.first.locator(".event-type")).to_have_text("Order refunded")
    await expect(events.first.locator(".event-details")).to_contain_text("note: <img src=x onerror=alert(1)>")
    assert await page.evaluate("window.__sameDocument") is True
    await expect(console.customer.locator("img")).to_have_count(0)  # text, never markup

    await page.reload()
    await console.expect_connected()
    await console.conversation().first.click()
    await expect(console.customer.locator('[data-field="name"]')).to_have_text("Wang Fang")  # read over HTTP
    await expect(events.locator(".event-type")).to_have_text(["Order refunded", "Order paid", "Signed in"])


async def test_a_record_read_before_a_profile_event_does_not_undo_it(
    start_web: Callable[..., Any], context: Any, page: Any
) -> None:
    """The console reads the customer over HTTP when a chat arrives; if a profile event lands while that read is in
    flight, the frame is newer than the response and the panel keeps what the frame said."""
    host = await start_web()
    console = await Console.open(page, host, await host.add_agent("alice"))
    await host.send_event("user.login", {"uid": "u-9", "ip": "10.1.2.3"})  # only the HTTP read shows this one
    read, release = asyncio.Event(), asyncio.Event()

    async def hold(route: Any) -> None:
        response = await route.fetch()  # read now, before the profile event: the record it holds is the old one
        read.set()
        await release.wait()
        await route.fulfill(response=response)

    await page.route("**/api/customers/*", hold)
    widget = await Widget.open_demo(await context.new_page(), host,
                                    user={"id": "u-9", "hash": user_hash("u-9"), "name": "Wang Fang"})
    await widget.send("hello")
    await read.wait()
    await host.send_event("user.profile_updated", {"uid": "u-9", "attributes": {"tier": "gold"}})
    events = console.customer.locator("ol.events li")
    await expect(console.customer.locator(".attributes")).to_contain_text("gold")
    await expect(events.locator(".event-type")).to_have_text(["Profile changed"])

    release.set()
    await expect(events.locator(".event-type")).to_have_text(["Profile changed", "Signed in"])  # the read is in
    await expect(console.customer.locator(".attributes")).to_contain_text("gold")
