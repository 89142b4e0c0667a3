"""A message the host answers ``store_busy`` (its writer's chat lane full: not stored) is sent again by the page on
its own, with the same client_msg_id, after the advised ``retry_after`` (jittered, longer each try): it ends up
stored once. After a few refused tries it shows failed, and the Retry button sends it again."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from playwright.async_api import expect
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kefu_host.keys import STORE
from kefu_host.store.models import Message
from kefu_host.testing.clients import VisitorClient
from kefu_host.testing.host import TestHost
from tests.store.locks import holding_writes, until
from tests.web.conftest import WebHost
from tests.web.pages import Console, Widget

#: Two chat writes may wait; a refused send is told to come back after 0.2 s (0.4 s, 0.8 s on later tries).
BUSY = {"KEFU_DATABASE__CHAT_QUEUE_LIMIT": "2", "KEFU_DATABASE__BUSY_RETRY_AFTER": "0.2",
        "KEFU_DATABASE__SQLITE_BUSY_TIMEOUT": "120"}
#: How many sends of one message the pages make before showing it failed (shared/busy_retry.js).
MAX_BUSY_TRIES = 4


def refusals(page: Any) -> list[dict[str, Any]]:
    """The ``store_busy`` frames the page's sockets receive (the widget's iframe's too), as they come."""
    seen: list[dict[str, Any]] = []

    def on_socket(ws: Any) -> None:
        def on_frame(payload: str | bytes) -> None:
            frame = json.loads(payload)
            if frame.get("type") == "error" and frame.get("code") == "store_busy":
                seen.append(frame)

        ws.on("framereceived", on_frame)

    page.on("websocket", on_socket)
    return seen


async def others(host: WebHost, n: int) -> list[VisitorClient]:
    """``n`` visitors on sockets of their own, each with a stored first message."""
    helper = TestHost(host.client)  # type: ignore[arg-type]
    visitors = [await helper.visitor() for _ in range(n)]
    for visitor in visitors:
        await visitor.say("hello")
    return visitors


async def _noop(conn: AsyncConnection) -> None:
    """A write that changes nothing: it only takes its place in the lane."""


@contextlib.asynccontextmanager
async def full_lane(host: WebHost, stuck: VisitorClient) -> AsyncIterator[None]:
    """The chat lane full until the block ends: a batch with ``stuck``'s message in it stuck on the database's
    lock, and writes waiting up to the lane's bound (whatever else the host writes meanwhile)."""
    writer = host.app[STORE].writer
    limit = host.config.database.chat_queue_limit
    fillers: list[asyncio.Task[None]] = []
    # no batch running: on SQLite the lock is taken on this thread, and a batch holding it would wait for this loop
    await until(lambda: not writer.in_flight() and not writer.pending())
    async with holding_writes(host.config.database.url):
        await stuck.send({"type": "send", "client_msg_id": "stuck", "body": "stuck"})
        await until(lambda: writer.in_flight() >= 1)
        while writer.pending() < limit:
            fillers.append(asyncio.create_task(writer.transaction(_noop)))
            await asyncio.sleep(0)  # it takes its place (or is refused, when another write took it first)
        yield
    await stuck.expect("ack", client_msg_id="stuck")
    await asyncio.gather(*fillers, return_exceptions=True)


async def stored(host: WebHost, body: str) -> int:
    async with host.app[STORE].read() as conn:
        return int((await conn.execute(select(func.count()).where(Message.body == body))).scalar_one())


async def test_the_widget_sends_a_message_refused_as_busy_again_and_it_is_stored_once(
    start_web: Callable[..., Any], context: Any, page: Any
) -> None:
    host = await start_web(environ=BUSY)
    await Console.open(await context.new_page(), host, await host.add_agent("alice", capacity=5))
    busy = refusals(page)
    widget = await Widget.open_demo(page, host)
    await widget.send("hello")
    await expect(widget.message("hello")).to_have_attribute("data-state", "stored")
    visitors = await others(host, 1)

    async with full_lane(host, visitors[0]):
        await widget.send("is the tea in stock?")
        await until(lambda: len(busy) == 1)
        assert busy[0]["retry_after"] == 0.2
        await expect(widget.message("is the tea in stock?")).to_have_attribute("data-state", "pending")
    await expect(widget.message("is the tea in stock?")).to_have_attribute("data-state", "stored")
    await expect(widget.message("is the tea in stock?").locator("button", has_text="Retry")).to_have_count(0)
    assert await stored(host, "is the tea in stock?") == 1
    assert len({frame["ref"] for frame in busy}) == 1  # every try was the same message


async def test_the_console_gives_up_after_a_few_busy_answers_and_retry_by_hand_stores_it_once(
    start_web: Callable[..., Any], context: Any, page: Any
) -> None:
    host = await start_web(environ=BUSY)
    busy = refusals(page)
    console = await Console.open(page, host, await host.add_agent("alice", capacity=5))
    visitors = await others(host, 2)
    await expect(console.conversation()).to_have_count(2)
    await console.conversation().first.click()

    async with full_lane(host, visitors[1]):
        await console.send("one moment please")
        reply = console.message("one moment please")
        await until(lambda: len(busy) == MAX_BUSY_TRIES, timeout=15)
        await expect(reply).to_have_attribute("data-state", "failed")
        assert len({frame["ref"] for frame in busy}) == 1
    assert await stored(host, "one moment please") == 0
    await reply.locator("button", has_text="Retry").click()
    await expect(reply).to_have_attribute("data-state", "stored")
    assert await stored(host, "one moment please") == 1
    assert len(busy) == MAX_BUSY_TRIES


async def test_a_busy_resend_waits_at_least_the_advised_time_longer_each_try_with_jitter(
    start_web: Callable[..., Any], page: Any
) -> None:
    host = await start_web()
    await page.goto(host.url("/"))
    delays = await page.evaluate("""async () => {
      const B = await import('/static/shared/busy_retry.js');
      return [1, 2, 3].map((tries) => [B.busyDelay(1.5, tries, () => 0), B.busyDelay(1.5, tries, () => 0.999),
                                       B.busyDelay(1000, tries, () => 0)]);
    }""")
    assert delays == [[1500, 2249, 30000], [3000, 4499, 30000], [6000, 8997, 30000]]
