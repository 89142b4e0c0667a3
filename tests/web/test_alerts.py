"""A new chat for the agent: a desktop notification and a short tone, once per new conversation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.async_api import expect

from tests.web.pages import Console, Widget

#: Stand-ins that record what the console asks of the Notification API and of WebAudio (no real desktop here).
RECORD_ALERTS = """
window.__notes = [];
window.Notification = class {
  constructor(title, options) { window.__notes.push([title, options && options.body]); }
  static permission = 'default';
  static requestPermission() { window.Notification.permission = 'granted'; return Promise.resolve('granted'); }
};
window.__tones = 0;
const createOscillator = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () { window.__tones += 1; return createOscillator.call(this); };
"""


async def test_a_new_assigned_chat_notifies_and_sounds_once(
    start_web: Callable[..., Any], context: Any, page: Any
) -> None:
    host = await start_web()
    await page.add_init_script(RECORD_ALERTS)
    console = await Console.open(page, host, await host.add_agent("alice"))  # the click asks for permission
    assert await page.evaluate("Notification.permission") == "granted"
    await expect(page.get_by_role("button", name="Enable alerts")).to_have_count(0)
    widget = await Widget.open_demo(await context.new_page(), host)
    await widget.send("hello?")
    await expect(console.message("hello?")).to_be_visible()
    await page.wait_for_function("window.__notes.length === 1")
    assert await page.evaluate("window.__notes") == [["New conversation", "Visitor #1"]]
    assert await page.evaluate("window.__tones") == 1

    await widget.send("second message, same chat")
    await expect(console.message("second message")).to_be_visible()
    assert await page.evaluate("[window.__notes.length, window.__tones]") == [1, 1]
