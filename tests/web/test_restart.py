"""The host restarts (same database, same port) and both pages come back by themselves: each resumes from the last
seq it has, resends what it had not got stored, and shows every message once, in order."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from playwright.async_api import expect

from tests.web.pages import Console, Widget, bodies, seqs


async def test_both_pages_reconnect_after_a_restart_with_no_gap_and_no_duplicate(
    start_web: Callable[..., Any], context: Any, page: Any
) -> None:
    host = await start_web()
    console = await Console.open(page, host, await host.add_agent("alice"))
    widget = await Widget.open_demo(await context.new_page(), host)
    await widget.send("one")
    await expect(console.message("one")).to_be_visible()
    await console.send("two")
    await expect(widget.message("two")).to_be_visible()

    await host.stop()
    await expect(page.locator(".topbar [data-connection]")).not_to_have_attribute("data-connection", "open")
    await expect(widget.status).not_to_have_attribute("data-connection", "open")
    await console.send("three")  # written while the host is down: kept, and sent again after the reconnect
    await widget.send("four")
    await expect(console.message("three")).to_have_attribute("data-state", "pending")
    await expect(widget.message("four")).to_have_attribute("data-state", "pending")

    await host.start()
    await console.expect_connected()
    await expect(widget.status).to_have_attribute("data-connection", "open")
    for side in (console, widget):
        await expect(side.messages).to_have_count(4)
        await expect(side.in_state("stored")).to_have_count(4)
    shown = await bodies(console.messages)
    assert shown[:2] == ["one", "two"] and sorted(shown[2:]) == ["four", "three"]
    assert await bodies(widget.messages) == shown
    assert await seqs(console.messages) == await seqs(widget.messages) == ["1", "2", "3", "4"]


async def test_a_reply_stored_but_not_acknowledged_before_the_restart_shows_once(
    start_web: Callable[..., Any], context: Any, page: Any
) -> None:
    """The worst moment to lose the host: after it stored a message, before the ack reached the browser. The console
    resends it with the same client_msg_id; the host answers from its record and nothing is stored twice."""
    host = await start_web()
    dropping = {"acks": False}

    def drop_acks(route: Any) -> None:
        server = route.connect_to_server()

        def from_host(message: str | bytes) -> None:
            if dropping["acks"] and isinstance(message, str) and json.loads(message)["type"] == "ack":
                return
            route.send(message)

        server.on_message(from_host)
        route.on_message(server.send)

    await page.route_web_socket(re.compile(r"/ws/agent"), drop_acks)
    console = await Console.open(page, host, await host.add_agent("alice"))
    widget = await Widget.open_demo(await context.new_page(), host)
    await widget.send("where is my parcel?")
    await expect(console.message("where is my parcel?")).to_be_visible()

    dropping["acks"] = True
    await console.send("it left the warehouse today")
    await expect(widget.message("it left the warehouse today")).to_be_visible()  # stored
    await expect(console.message("it left the warehouse")).to_have_attribute("data-state", "pending")
    dropping["acks"] = False
    await host.stop()
    await host.start()

    await console.expect_connected()
    await expect(console.message("it left the warehouse")).to_have_attribute("data-state", "stored")
    await expect(console.messages).to_have_count(2)
    assert await seqs(console.messages) == ["1", "2"]
    await expect(widget.status).to_have_attribute("data-connection", "open")
    await expect(widget.messages).to_have_count(2)
    assert await seqs(widget.messages) == ["1", "2"]
