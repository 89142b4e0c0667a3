"""Chinese and English: the same keys in both catalogues, the language taken from the browser, a switch that
sticks."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from playwright.async_api import expect

from kefu_host.web.assets import STATIC_DIR
from tests.web.pages import Widget

KEY = re.compile(r"^\s*'([a-z_.]+)':", re.MULTILINE)
USED = re.compile(r"\bt\('([a-z_.]+)'")
#: keys built at run time: t(`connection.${state}`), t(`ended.${conv.ended}`), the integer/number form errors,
#: t(`rule.${status}`) for the statuses of an explanation, t(`event.${type}`) for the business events the panel names
DYNAMIC = {"event.user.login", "event.user.profile_updated", "event.order.paid", "event.order.refunded",
           "event.payment.failed", "event.payment.succeeded", "event.ticket.changed",
           "connection.starting", "connection.connecting", "connection.open", "connection.waiting",
           "connection.refused", "connection.stopped", "ended.closed", "ended.transferred", "ended.gone",
           "form.integer", "form.number", "rule.fired", "rule.not_matched", "rule.skipped", "rule.not_reached"}


def catalogue(lang: str) -> list[str]:
    return KEY.findall((STATIC_DIR / "shared" / f"messages_{lang}.js").read_text(encoding="utf-8"))


def test_both_catalogues_have_the_same_keys_and_every_key_used_exists() -> None:
    en, zh = catalogue("en"), catalogue("zh")
    assert len(en) == len(set(en)) and len(zh) == len(set(zh))
    assert set(en) == set(zh)
    used = {key for path in STATIC_DIR.rglob("*.js") for key in USED.findall(path.read_text(encoding="utf-8"))}
    assert used | DYNAMIC <= set(en), sorted((used | DYNAMIC) - set(en))
    assert set(en) - used - DYNAMIC == set()  # and no text nobody shows


async def test_the_console_speaks_the_browsers_language_and_keeps_the_agents_choice(
    start_web: Callable[..., Any], browser: Any
) -> None:
    host = await start_web()
    await host.add_agent("alice")
    context = await browser.new_context(locale="zh-CN")
    try:
        page = await context.new_page()
        await page.goto(host.url("/"))
        await expect(page.get_by_label("用户名")).to_be_visible()
        await expect(page.get_by_role("button", name="登录", exact=True)).to_be_visible()
        assert await page.evaluate("document.documentElement.lang") == "zh-CN"
        await page.get_by_label("语言").select_option("en")
        await expect(page.get_by_label("Name")).to_be_visible()
        await page.reload()
        await expect(page.get_by_label("Password", exact=True)).to_be_visible()
        assert await page.evaluate("document.documentElement.lang") == "en"
    finally:
        await context.close()


async def test_the_widget_follows_the_sites_data_lang_until_the_visitor_switches(
    start_web: Callable[..., Any], browser: Any
) -> None:
    host = await start_web()
    context = await browser.new_context(locale="zh-CN")  # the demo's snippet says data-lang="en"
    try:
        page = await context.new_page()
        widget = await Widget.open_demo(page, host)
        await expect(widget.frame.locator("h1")).to_have_text("Chat with us")
        await widget.frame.get_by_label("Language").select_option("zh")
        await expect(widget.frame.locator("h1")).to_have_text("在线客服")
        await expect(widget.frame.locator("#offline-title")).to_have_text("留言")  # nobody online: the form
    finally:
        await context.close()
