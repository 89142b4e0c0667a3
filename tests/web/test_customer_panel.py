"""The customer panel shows who the agent is talking to, and signed business events change it live: no reload."""

from __future__ import annotations

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
