"""No agent online: the widget shows an offline form instead of the live chat; the message is kept, and the agent
who comes online later gets it with the visitor's contact details. A reloaded widget names the agent helping."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import expect

from tests.web.conftest import screenshot_path
from tests.web.pages import Console, Widget
from tests.web.test_accessibility import serious


def form(widget: Widget) -> Any:
    return widget.frame.locator("form.offline-form")


async def test_a_message_left_offline_is_kept_and_seen_by_the_agent_who_comes_online(
    start_web: Callable[..., Any], context: Any, page: Any
) -> None:
    host = await start_web()
    widget = await Widget.open_demo(await context.new_page(), host)
    await expect(widget.status).to_have_text("No agent is online right now. Leave us a message.")
    await expect(form(widget)).to_be_visible()
    await expect(widget.frame.locator("#visitor-composer")).to_have_count(0)  # no live chat to write into

    await widget.frame.get_by_role("button", name="Send message").click()  # nothing filled in yet
    await expect(form(widget).locator("#offline-email-problem")).to_have_text("Please fill this in.")
    await widget.frame.get_by_role("textbox", name="Your name").fill("Wang Fang <img src=x onerror=alert(1)>")
    await widget.frame.get_by_role("textbox", name="Email (required)").fill("fang@example.com")
    await widget.frame.get_by_role("textbox", name="Message (required)").fill("Do you ship to Hangzhou?")
    await widget.frame.get_by_role("button", name="Send message").click()

    await expect(widget.message("Do you ship to Hangzhou?")).to_have_attribute("data-state", "stored")
    await expect(widget.frame.locator(".kept-note")).to_contain_text("your message is kept")
    await expect(form(widget)).to_have_count(0)

    console = await Console.open(page, host, await host.add_agent("alice"))
    await expect(console.message("Do you ship to Hangzhou?")).to_be_visible()
    await expect(page.locator("main.conversation .offline-note")).to_contain_text("Left while no agent was online")
    await expect(console.customer.locator('[data-field="name"]')).to_have_text(
        "Wang Fang <img src=x onerror=alert(1)>")  # shown as text
    await expect(console.customer.locator('[data-field="email"]')).to_have_text("fang@example.com")
    await expect(widget.status).to_have_text("alice is helping you")
    await expect(widget.frame.locator(".kept-note")).to_have_count(0)
    await console.send("Yes, in two days.")
    await expect(widget.message("Yes, in two days.")).to_be_visible()


async def test_the_form_gives_way_to_the_live_chat_when_an_agent_comes_online(
    start_web: Callable[..., Any], context: Any, page: Any
) -> None:
    host = await start_web()
    widget = await Widget.open_demo(await context.new_page(), host)
    await expect(form(widget)).to_be_visible()
    await Console.open(page, host, await host.add_agent("alice"))
    await expect(widget.frame.locator("#visitor-composer")).to_be_visible()
    await expect(form(widget)).to_have_count(0)
    await expect(widget.status).to_have_text("Ask us anything, we reply here.")

    await page.get_by_label("Status").select_option("away")  # the only agent steps away: back to the form
    await expect(form(widget)).to_be_visible()


async def test_the_host_refusing_the_form_says_why_and_keeps_what_was_typed(
    start_web: Callable[..., Any], context: Any
) -> None:
    host = await start_web()
    widget = await Widget.open_demo(await context.new_page(), host)
    # the page's own check is looser than the host's, which refuses a second @ and says so
    await widget.frame.get_by_role("textbox", name="Email (required)").fill("fang@@example.com")
    await widget.frame.get_by_role("textbox", name="Message (required)").fill("hello?")
    await widget.frame.get_by_role("button", name="Send message").click()
    await expect(form(widget).get_by_role("alert")).to_contain_text("bad_frame")
    await expect(widget.frame.get_by_role("textbox", name="Message (required)")).to_have_value("hello?")
    await expect(widget.messages).to_have_count(0)


async def test_a_reloaded_widget_names_the_agent_helping(
    start_web: Callable[..., Any], context: Any, page: Any
) -> None:
    host = await start_web()
    console = await Console.open(page, host, await host.add_agent("alice"))
    widget = await Widget.open_demo(await context.new_page(), host)
    await widget.send("hello")
    await expect(console.message("hello")).to_be_visible()
    await expect(widget.status).to_have_text("alice is helping you")

    await widget.page.reload()  # alice has not written yet: only the host can say who she is
    await widget.bubble.click()
    await expect(widget.status).to_have_attribute("data-connection", "open")
    await expect(widget.status).to_have_text("alice is helping you")


async def test_the_offline_states_have_no_serious_accessibility_violations(
    start_web: Callable[..., Any], context: Any
) -> None:
    host = await start_web()
    shop = await context.new_page()
    widget = await Widget.open_demo(shop, host)
    await widget.frame.get_by_role("button", name="Send message").click()
    await expect(form(widget).locator("#offline-body-problem")).to_have_text("Please fill this in.")
    frame = next(f for f in shop.frames if "/widget/frame" in f.url)
    axe = Axe()
    assert serious(await axe.run(frame)) == []

    await widget.frame.get_by_role("textbox", name="Your name").fill("Wang Fang")
    await widget.frame.get_by_role("textbox", name="Email (required)").fill("fang@example.com")
    await widget.frame.get_by_role("textbox", name="Message (required)").fill("Are you open on Sunday?")
    await expect(form(widget).locator("#offline-body-problem")).to_be_hidden()  # fixed fields lose their note
    if path := screenshot_path("widget-offline.png"):
        await shop.screenshot(path=str(path))
    await widget.frame.get_by_role("button", name="Send message").click()
    await expect(widget.frame.locator(".kept-note")).to_be_visible()
    assert serious(await axe.run(frame)) == []
