"""Canned replies in the console: added on the Replies page, found with `/` and a few letters in the send box (a
listbox driven by the keyboard), put in the box with Enter, then sent like any message."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from playwright.async_api import expect

from tests.conftest import admin_headers
from tests.web.conftest import Watch, screenshot_path
from tests.web.pages import Console, Widget, bodies


async def test_a_canned_reply_is_found_with_a_slash_inserted_and_sent(
    start_web: Callable[..., Any], context: Any, page: Any, watch: Watch
) -> None:
    host = await start_web()
    assert host.client is not None
    for shortcut, body in (("refund", "退款会在 3 个工作日内原路退回。"), ("ship", "We ship within 24 hours.")):
        made = await host.client.post("/api/canned", headers=admin_headers(),
                                      json={"shortcut": shortcut, "body": body, "team": "support"})
        assert made.status == 201
    console = await Console.open(page, host, await host.add_agent("alice"))

    # a personal reply, added on the Replies page
    await page.get_by_role("button", name="Replies").click()
    await page.get_by_label("Shortcut").fill("thanks")
    await page.get_by_label("Text").fill("Thank you for waiting!")
    await page.get_by_role("button", name="Save").click()
    listed = page.locator(".canned-list li")
    await expect(listed).to_have_count(3)
    await expect(listed.first).to_contain_text("/thanks")  # personal ones first
    await expect(listed.first).to_contain_text("Personal")
    await page.get_by_role("button", name="Edit /thanks").click()  # a typo to mend
    await expect(page.get_by_label("Text")).to_have_value("Thank you for waiting!")
    await page.get_by_label("Text").fill("Thank you for waiting, sorry for the delay!")
    await page.get_by_role("button", name="Save").click()
    await expect(listed.first.locator(".canned-body")).to_have_text("Thank you for waiting, sorry for the delay!")
    await expect(listed).to_have_count(3)

    widget = await Widget.open_demo(await context.new_page(), host)
    await widget.send("when do I get my money back?")
    await console.conversation().first.click()
    await expect(console.message("money back")).to_be_visible()

    box = page.locator("#agent-composer")
    options = page.get_by_role("listbox", name="Canned replies").get_by_role("option")
    await box.press_sequentially("/")
    await expect(options).to_have_count(3)
    await box.press_sequentially("s")  # shortcuts that start with it first, then those (or texts) that hold it
    await expect(options).to_have_text([re.compile(r"/ship.*support.*within", re.S),
                                        re.compile(r"/thanks.*Personal", re.S)], use_inner_text=True)
    await expect(options.first).to_have_attribute("aria-selected", "true")
    await expect(box).to_have_attribute("aria-activedescendant", await options.first.get_attribute("id") or "")
    if path := screenshot_path("console-canned.png"):
        await page.screenshot(path=str(path))
    await box.press("ArrowDown")
    await expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    await expect(box).to_have_attribute("aria-activedescendant", await options.nth(1).get_attribute("id") or "")
    await box.press("ArrowDown")  # round to the first again
    await expect(options.first).to_have_attribute("aria-selected", "true")
    await box.press("Escape")
    await expect(options).to_have_count(0)
    await expect(box).to_have_value("/s")  # Escape closed the list; nothing was sent
    await box.fill("/")
    await box.press_sequentially("退款")  # the text of a reply, in Chinese
    await expect(options).to_have_text([re.compile(r"^/refund")], use_inner_text=True)
    await box.press("Enter")  # puts the reply in the box
    await expect(options).to_have_count(0)
    await expect(box).to_have_value("退款会在 3 个工作日内原路退回。")
    await expect(console.messages).to_have_count(1)
    await box.press("Enter")  # and this one sends it

    await expect(widget.message("退款会在 3 个工作日内原路退回。")).to_be_visible()
    await expect(console.message("原路退回")).to_have_attribute("data-state", "stored")
    assert await bodies(widget.messages) == ["when do I get my money back?", "退款会在 3 个工作日内原路退回。"]

    # a click picks one too
    await box.press_sequentially("/than")
    await options.first.click()
    await expect(box).to_have_value("Thank you for waiting, sorry for the delay!")
    assert watch.page_errors == [] and watch.console_errors == []
