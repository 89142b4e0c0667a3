"""Attachments in both pages: an image goes from the visitor to the agent and back, previewed on each side; a file
name with markup is text; a file that is really HTML is refused, whatever it is called."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.async_api import expect

from kefu_host.testing.files import HTML, png
from tests.web.conftest import Watch
from tests.web.pages import FRAME, Console, Widget, image_drawn

RED, BLUE = png(3, 2, (220, 40, 40)), png(4, 5, (30, 60, 200))
PASSWORD = "correct horse battery staple"
#: Without double quotes: browsers send those in a multipart file name as %22 (the HTML standard's encoding).
NAME = "<img src=x onerror=window.__xss=1;alert(1)>发票.txt"


async def test_an_image_goes_from_the_visitor_to_the_agent_and_back_with_previews(
    start_web: Callable[..., Any], context: Any, page: Any, watch: Watch
) -> None:
    host = await start_web()
    await host.add_agent("alice", password=PASSWORD)
    # signed in as people are: the session cookie signs the downloads, the cookie and CSRF header the upload
    console = await Console.sign_in(page, host, "alice", PASSWORD)
    widget = await Widget.open_demo(await context.new_page(), host)
    await widget.send("Here is the broken cup")
    await expect(console.message("broken cup")).to_be_visible()

    await widget.attach("cup.png", RED, "image/png")
    sent = widget.messages.filter(has=widget.frame.locator("img.preview"))
    await expect(sent).to_have_attribute("data-state", "stored")
    await expect(sent).to_have_attribute("data-seq", "2")
    assert await image_drawn(sent.locator("img.preview")) == (3, 2)
    received = console.messages.filter(has=page.locator("img.preview"))
    await expect(received).to_have_attribute("data-kind", "attachment")
    preview = received.locator("img.preview")
    await expect(preview).to_have_attribute("alt", "cup.png")
    assert await image_drawn(preview) == (3, 2)
    assert (await preview.get_attribute("src") or "").startswith("blob:")

    await console.attach("label.png", BLUE, "image/png")
    reply = widget.messages.filter(has=widget.frame.locator('img.preview[alt="label.png"]'))
    assert await image_drawn(reply.locator("img.preview")) == (4, 5)
    own = console.messages.filter(has=page.locator('img.preview[alt="label.png"]'))
    await expect(own).to_have_attribute("data-state", "stored")
    await expect(own).to_have_attribute("data-seq", "3")
    await expect(widget.messages).to_have_count(3)
    await expect(console.messages).to_have_count(3)
    assert watch.page_errors == [] and watch.console_errors == []
    for scope in (page, next(f for f in widget.page.frames if "/widget/frame" in f.url)):
        assert await scope.evaluate("window.__cspViolations") == []


async def test_a_file_name_with_markup_is_text_and_the_file_downloads_as_sent(
    start_web: Callable[..., Any], context: Any, page: Any, watch: Watch
) -> None:
    host = await start_web()
    console = await Console.open(page, host, await host.add_agent("alice"))
    shop = await context.new_page()
    shop_watch = Watch()
    shop_watch.attach(shop)
    widget = await Widget.open_demo(shop, host)
    await widget.send("my invoice")
    await expect(console.message("my invoice")).to_be_visible()

    await widget.attach(NAME, "发票号 42\n".encode(), "text/html")
    item = console.messages.filter(has=page.locator(".attachment"))
    await expect(item.locator(".file-name")).to_have_text(NAME)
    await expect(widget.messages.locator(".file-name")).to_have_text(NAME)
    async with page.expect_download() as download_info:
        await item.get_by_role("button", name="Download").click()
    download = await download_info.value
    path = await download.path()
    assert path is not None and open(path, "rb").read() == "发票号 42\n".encode()

    for root in (page.locator("#app"), shop.frame_locator(FRAME).locator("#app")):
        await expect(root.locator("img, script")).to_have_count(0)
    frame = next(f for f in shop.frames if "/widget/frame" in f.url)
    for scope in (page, frame, shop):
        assert await scope.evaluate("window.__xss") is None
        assert await scope.evaluate("window.__cspViolations") == []
    assert watch.dialogs == [] and shop_watch.dialogs == []


async def test_html_called_png_is_refused_and_can_be_retried_or_left(
    start_web: Callable[..., Any], context: Any, page: Any
) -> None:
    host = await start_web()
    console = await Console.open(page, host, await host.add_agent("alice"))
    widget = await Widget.open_demo(await context.new_page(), host)
    await widget.send("hello")
    await expect(console.message("hello")).to_be_visible()

    await widget.attach("holiday.png", HTML, "image/png")
    refused = widget.in_state("failed")
    await expect(refused.locator(".state")).to_contain_text("type_not_allowed")
    await expect(refused.locator(".file-name")).to_have_text("holiday.png")
    await console.send("anything else?")
    await expect(widget.message("anything else?")).to_be_visible()
    await expect(console.messages).to_have_count(2)  # nothing of the refused file reached the agent
