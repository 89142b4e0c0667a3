"""Whatever visitors, agents and business systems send is shown as text: markup in a message or a profile name
runs nothing, on either page. And the pages run under their CSP without a single violation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.async_api import expect

from tests.web.conftest import Watch, user_hash
from tests.web.pages import FRAME, Console, Widget

IMG = '<img src=x onerror="window.__xss=1;alert(1)">'
SCRIPT = "<script>window.__xss=2;alert(2)</script>"
NAME = '<img src=x onerror="window.__xss=3;alert(3)"><b>Mallory</b>'
EVENT_NAME = "<svg onload=\"window.__xss=4;alert(4)\"></svg>"


async def test_markup_in_messages_and_profile_names_is_shown_as_text_and_runs_nothing(
    start_web: Callable[..., Any], context: Any, page: Any, watch: Watch
) -> None:
    host = await start_web()
    console = await Console.open(page, host, await host.add_agent("alice"))
    shop = await context.new_page()
    shop_watch = Watch()
    shop_watch.attach(shop)
    widget = await Widget.open_demo(shop, host, user={"id": "u-x", "hash": user_hash("u-x"), "name": NAME})

    await widget.send(IMG)
    await widget.send(SCRIPT)
    await expect(console.message("window.__xss=2")).to_be_visible()
    await expect(console.messages.locator(".body")).to_have_text([IMG, SCRIPT])
    await expect(console.customer.locator('[data-field="name"]')).to_have_text(NAME)
    await expect(console.conversation().locator(".conv-name")).to_have_text(NAME)
    await console.send(SCRIPT + IMG)
    await expect(widget.messages.locator(".body")).to_have_text([IMG, SCRIPT, SCRIPT + IMG])

    await host.send_event("user.profile_updated", {"uid": "u-x", "name": EVENT_NAME})
    await expect(console.customer.locator('[data-field="name"]')).to_have_text(EVENT_NAME)

    for root in (page.locator("#app"), shop.frame_locator(FRAME).locator("#app")):
        await expect(root.locator("img, script, svg, b")).to_have_count(0)
    frame = next(f for f in shop.frames if "/widget/frame" in f.url)
    for scope in (page, frame, shop):
        assert await scope.evaluate("window.__xss") is None
        assert await scope.evaluate("window.__cspViolations") == []
    assert watch.dialogs == [] and shop_watch.dialogs == []
    assert watch.page_errors == [] and shop_watch.page_errors == []


async def test_the_pages_run_under_their_csp_without_violations(
    start_web: Callable[..., Any], context: Any, page: Any, watch: Watch
) -> None:
    """The import map's hash, the WebSocket under connect-src 'self', the widget's styles set through the CSSOM:
    all allowed as they are, nothing needs 'unsafe-inline'."""
    host = await start_web()
    console = await Console.open(page, host, await host.add_agent("alice"))
    shop = await context.new_page()
    widget = await Widget.open_demo(shop, host)
    await widget.send("hello")
    await expect(console.message("hello")).to_be_visible()
    frame = next(f for f in shop.frames if "/widget/frame" in f.url)
    for scope in (page, shop, frame):
        assert await scope.evaluate("window.__cspViolations") == []
    assert watch.console_errors == []


async def test_an_inline_script_added_to_a_page_is_blocked(context: Any, page: Any, start_web: Callable[..., Any]) -> None:
    """The check above can fail: a script the policy does not allow is refused and reported."""
    host = await start_web()
    await page.goto(host.url("/"))
    await page.evaluate("""() => {
        const s = document.createElement('script');
        s.textContent = 'window.__inline = 1';
        document.head.appendChild(s);
    }""")
    await page.wait_for_function("window.__cspViolations.length > 0")
    assert await page.evaluate("window.__inline") is None
    assert (await page.evaluate("window.__cspViolations"))[0].startswith("script-src")
