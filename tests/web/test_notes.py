"""Private notes in the console: written with the note switch, shown apart from messages, read by the colleague who
takes the conversation over, and never received by the visitor's widget: not live, not when it resumes after a
drop, not in its history."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

from playwright.async_api import expect

from tests.web.conftest import TIMEOUT_MS, Watch
from tests.web.pages import FRAME, Console, Widget, seqs

SECRET = "Refund approved, customer is VIP"
IMG = '<img src=x onerror="window.__xss=1;alert(1)">'
SCRIPT = "<script>window.__xss=2;alert(2)</script>"


class WidgetSockets:
    """The widget's WebSocket, passed through so a test can drop it, hold the reconnection, and read what the host
    sent to the widget."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.open: list[Any] = []
        self.held: list[Any] = []
        self.holding = False
        self.reconnected = asyncio.Event()

    def route(self, route: Any) -> None:
        if self.holding:
            self.held.append(route)  # the page's socket is open, the host's not yet: no welcome until release()
            self.reconnected.set()
        else:
            self._connect(route)

    def release(self) -> Any:
        self.holding = False
        route = self.held.pop()
        self._connect(route)
        return route

    def _connect(self, route: Any) -> None:
        server = route.connect_to_server()

        def from_host(message: str | bytes) -> None:
            self.received.append(message if isinstance(message, str) else message.decode())
            route.send(message)

        server.on_message(from_host)
        route.on_message(server.send)
        self.open.append(route)


async def test_a_private_note_is_seen_by_a_second_agent_and_never_reaches_the_visitor(
    start_web: Callable[..., Any], context: Any, page: Any, watch: Watch
) -> None:
    host = await start_web()
    alice = await Console.open(page, host, await host.add_agent("alice"))
    bob = await Console.open(await context.new_page(), host, await host.add_agent("bob"))
    await bob.page.get_by_label("Status").select_option("away")  # the chat goes to alice
    await expect(bob.page.get_by_label("Status")).to_have_value("away")
    shop = await context.new_page()
    sockets = WidgetSockets()
    await shop.route_web_socket(re.compile(r"/ws/visitor"), sockets.route)
    widget = await Widget.open_demo(shop, host)

    await widget.send("My order 1001 arrived broken")
    await expect(alice.message("arrived broken")).to_be_visible()
    await alice.note(SECRET)
    note = alice.notes.filter(has_text=SECRET)
    await expect(note).to_have_attribute("data-state", "stored")
    await expect(note.locator(".note-label")).to_have_text("Private note")
    await alice.send("Sorry to hear that, checking now")
    await expect(widget.message("checking now")).to_be_visible()

    # the widget drops its connection; while it is away alice writes another note and a reply
    sockets.holding = True
    await sockets.open[-1].close()
    await expect(widget.status).not_to_have_attribute("data-connection", "open")
    await asyncio.wait_for(sockets.reconnected.wait(), TIMEOUT_MS / 1000)
    await alice.note(SECRET + " (2)")
    await expect(alice.notes).to_have_count(2)
    await alice.send("A new one ships today")
    await expect(alice.message("ships today")).to_have_attribute("data-state", "stored")
    resumed = sockets.release()
    assert "last_seq=3" in resumed.url  # it resumes from the last message it has, before the second note
    await expect(widget.message("ships today")).to_be_visible()

    assert await seqs(widget.messages) == ["1", "3", "5"]  # the notes' seqs are skipped, nothing else is missing
    assert await seqs(alice.messages) == ["1", "2", "3", "4", "5"]
    await expect(widget.frame.get_by_text(SECRET)).to_have_count(0)
    assert sockets.received and not [m for m in sockets.received if SECRET in m]
    frame = next(f for f in shop.frames if "/widget/frame" in f.url)
    history = await frame.evaluate("""async () => {
        const {token} = JSON.parse(localStorage.getItem('kefu.visitor'));
        const welcome = await (await fetch('/api/conversations/1/messages?after_seq=0',
                                           {headers: {Authorization: 'Bearer ' + token}})).json();
        return welcome.messages;
    }""")
    assert [m["seq"] for m in history] == [1, 3, 5] and SECRET not in repr(history)

    # bob takes it over and reads the notes where they were written
    await bob.page.get_by_label("Status").select_option("online")
    await page.get_by_role("button", name="Transfer…").click()
    await page.get_by_label("or to agent").fill("bob")
    await page.get_by_role("button", name="Transfer", exact=True).click()
    await expect(bob.notes).to_have_count(2)
    assert await seqs(bob.messages) == ["1", "2", "3", "4", "5"]
    await expect(bob.notes.first.locator(".body")).to_have_text(SECRET)
    await expect(bob.notes.first.locator(".who")).to_have_text("alice")
    await expect(widget.status).to_have_text("bob is helping you")
    await expect(widget.messages).to_have_count(3)
    assert watch.page_errors == []


async def test_markup_in_a_note_is_shown_as_text_and_runs_nothing(
    start_web: Callable[..., Any], context: Any, page: Any, watch: Watch
) -> None:
    host = await start_web()
    alice = await Console.open(page, host, await host.add_agent("alice"))
    widget = await Widget.open_demo(await context.new_page(), host)
    await widget.send("hello")
    await expect(alice.message("hello")).to_be_visible()

    await alice.note(IMG + SCRIPT)
    await expect(alice.notes.locator(".body")).to_have_text(IMG + SCRIPT)
    await expect(alice.notes).to_have_attribute("data-state", "stored")
    await expect(page.locator("#app").locator("img, script")).to_have_count(0)
    assert await page.evaluate("window.__xss") is None
    assert await page.evaluate("window.__cspViolations") == []
    assert watch.dialogs == [] and watch.page_errors == []
    await expect(widget.page.frame_locator(FRAME).locator(".messages li.msg")).to_have_count(1)
