"""The rating asked for at close: the widget shows five stars (a radio group, usable with the keyboard) and a
comment box; the agent's console shows the rating as soon as the visitor sends it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import expect

from tests.web.conftest import screenshot_path
from tests.web.pages import Console, Widget
from tests.web.test_accessibility import serious


async def chat_then_close(start_web: Callable[..., Any], context: Any, page: Any) -> tuple[Console, Widget]:
    host = await start_web()
    console = await Console.open(page, host, await host.add_agent("alice"))
    widget = await Widget.open_demo(await context.new_page(), host)
    await widget.send("my parcel is late")
    await expect(console.message("my parcel is late")).to_be_visible()
    await console.send("it arrives tomorrow, sorry")
    await expect(widget.message("it arrives tomorrow")).to_be_visible()
    return console, widget


async def test_the_visitor_rates_with_the_keyboard_and_the_console_shows_it(
    start_web: Callable[..., Any], context: Any, page: Any
) -> None:
    console, widget = await chat_then_close(start_web, context, page)
    await page.get_by_role("button", name="Close conversation").click()
    group = widget.frame.get_by_role("group", name="How was this conversation?")
    await expect(group).to_be_visible()
    send = widget.frame.get_by_role("button", name="Send rating")
    await expect(send).to_be_disabled()  # no score chosen yet

    await widget.frame.get_by_role("radio", name="1 – Very poor").focus()
    await widget.page.keyboard.press("Space")
    for _ in range(3):
        await widget.page.keyboard.press("ArrowRight")  # a radio group: the arrows move and choose
    await expect(widget.frame.get_by_role("radio", name="4 – Good")).to_be_checked()
    await widget.frame.get_by_label("Comment (optional)").fill("Quick answer <b>thanks</b>")
    await send.click()

    await expect(widget.frame.locator(".rating.done")).to_contain_text("You rated this conversation 4 out of 5.")
    await expect(console.conversation()).to_contain_text("Rated 4/5")
    head = page.locator("main.conversation .conversation-rating")
    await expect(head).to_contain_text("Rated 4/5")
    await expect(head.locator(".rating-comment")).to_have_text("Quick answer <b>thanks</b>")  # text, not HTML

    await widget.frame.get_by_role("button", name="Change rating").click()
    await widget.frame.get_by_role("radio", name="2 – Poor").check(force=True)
    await widget.frame.get_by_role("button", name="Send rating").click()
    await expect(head).to_contain_text("Rated 2/5")
    await expect(widget.frame.locator(".rating.done")).to_have_attribute("data-score", "2")


async def test_ending_the_chat_asks_for_a_rating_and_a_reloaded_widget_still_shows_it(
    start_web: Callable[..., Any], context: Any, page: Any
) -> None:
    console, widget = await chat_then_close(start_web, context, page)
    await widget.frame.get_by_role("button", name="End chat").click()
    await expect(page.locator("main.conversation .ended")).to_have_text("Closed")
    await widget.frame.get_by_role("radio", name="5 – Excellent").check(force=True)
    await widget.frame.get_by_role("button", name="Send rating").click()
    await expect(console.conversation()).to_contain_text("Rated 5/5")

    await widget.page.reload()
    await widget.bubble.click()
    await expect(widget.status).to_have_attribute("data-connection", "open")
    await expect(widget.frame.locator(".rating.done")).to_have_attribute("data-score", "5")


async def test_a_console_reloaded_after_the_close_still_hears_the_rating(
    start_web: Callable[..., Any], context: Any, page: Any
) -> None:
    console, widget = await chat_then_close(start_web, context, page)
    await page.get_by_role("button", name="Close conversation").click()
    await expect(widget.frame.get_by_role("group", name="How was this conversation?")).to_be_visible()
    await page.reload()  # the closed conversation is no longer listed
    await console.expect_connected()
    await expect(console.conversation()).to_have_count(0)

    await widget.frame.get_by_role("radio", name="3 – Okay").check(force=True)
    await widget.frame.get_by_role("button", name="Send rating").click()
    await expect(console.conversation()).to_contain_text("Rated 3/5")
    await console.conversation().click()
    await expect(console.message("my parcel is late")).to_be_visible()  # what the rating is about


async def test_the_rating_states_have_no_serious_accessibility_violations(
    start_web: Callable[..., Any], context: Any, page: Any
) -> None:
    console, widget = await chat_then_close(start_web, context, page)
    await page.get_by_role("button", name="Close conversation").click()
    await expect(widget.frame.get_by_role("group", name="How was this conversation?")).to_be_visible()
    frame = next(f for f in widget.page.frames if "/widget/frame" in f.url)
    axe = Axe()
    assert serious(await axe.run(frame)) == []

    await widget.frame.get_by_role("radio", name="4 – Good").check(force=True)
    await widget.frame.get_by_label("Comment (optional)").fill("Clear and quick, thank you")
    if path := screenshot_path("widget-rating.png"):
        await widget.page.screenshot(path=str(path))
    await widget.frame.get_by_role("button", name="Send rating").click()
    await expect(console.conversation()).to_contain_text("Rated 4/5")
    assert serious(await axe.run(frame)) == []
    assert serious(await axe.run(page)) == []  # the console showing the rating
