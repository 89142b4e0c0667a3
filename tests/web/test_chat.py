"""One browser shows the whole loop: a visitor writes in the widget on the demo shop, the agent answers from the
console; each side shows its own messages as pending until the host has stored them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from playwright.async_api import expect

from kefu_host.testing.clients import AgentClient
from tests.web.conftest import Watch, screenshot_path
from tests.web.pages import Console, Widget, bodies, seqs


async def test_visitor_and_agent_talk_through_the_widget_and_the_console(
    start_web: Callable[..., Any], context: Any, page: Any, watch: Watch
) -> None:
    host = await start_web()
    console = await Console.open(page, host, await host.add_agent("alice"))
    widget = await Widget.open_demo(await context.new_page(), host)

    await widget.send("Is the Longjing tea from this spring?")
    await expect(console.message("Is the Longjing tea from this spring?")).to_be_visible()
    await expect(console.conversation()).to_have_count(1)
    await expect(widget.status).to_have_text("alice is helping you")

    await console.send("Yes, picked in April. 您好！")
    await expect(widget.message("Yes, picked in April. 您好！")).to_be_visible()
    await expect(widget.messages).to_have_count(2)
    assert await bodies(widget.messages) == ["Is the Longjing tea from this spring?", "Yes, picked in April. 您好！"]
    assert await seqs(widget.messages) == ["1", "2"]
    assert await seqs(console.messages) == ["1", "2"]
    await expect(console.message("picked in April")).to_have_attribute("data-state", "stored")
    await expect(widget.message("Longjing")).to_have_attribute("data-state", "stored")
    assert watch.page_errors == [] and watch.console_errors == []
    if path := screenshot_path("widget.png"):
        await widget.page.screenshot(path=str(path))


async def test_a_message_is_pending_until_its_ack_arrives(
    start_web: Callable[..., Any], context: Any, page: Any
) -> None:
    host = await start_web()
    held: list[str] = []
    routes: list[Any] = []

    def hold_acks(route: Any) -> None:
        server = route.connect_to_server()
        routes.append(route)

        def from_host(message: str | bytes) -> None:
            if isinstance(message, str) and json.loads(message)["type"] == "ack":
                held.append(message)
            else:
                route.send(message)

        server.on_message(from_host)
        route.on_message(server.send)

    await page.route_web_socket(re.compile(r"/ws/agent"), hold_acks)
    console = await Console.open(page, host, await host.add_agent("alice"))
    widget = await Widget.open_demo(await context.new_page(), host)
    await widget.send("hello")
    await expect(console.message("hello")).to_be_visible()

    await console.send("one moment please")
    reply = console.message("one moment please")
    await expect(reply).to_have_attribute("data-state", "pending")
    await expect(reply.locator(".state")).to_have_text("Sending…")
    await expect(widget.message("one moment please")).to_be_visible()  # stored and delivered; the ack is held
    await expect(reply).to_have_attribute("data-state", "pending")
    assert len(held) == 1 and json.loads(held[0])["seq"] == 2

    routes[0].send(held.pop())
    await expect(reply).to_have_attribute("data-state", "stored")
    await expect(reply).to_have_attribute("data-seq", "2")
    await expect(reply.locator(".state")).to_have_text("Sent")


async def test_typing_shows_on_the_other_side(start_web: Callable[..., Any], context: Any, page: Any) -> None:
    host = await start_web()
    console = await Console.open(page, host, await host.add_agent("alice"))
    widget = await Widget.open_demo(await context.new_page(), host)
    await widget.send("hi")
    await expect(console.message("hi")).to_be_visible()

    await widget.frame.locator("#visitor-composer").press_sequentially("I would")
    await expect(page.locator("main.conversation .typing")).to_have_text(re.compile(r"is typing"))
    await page.locator("#agent-composer").press_sequentially("Sure")
    await expect(widget.frame.locator(".typing")).to_have_text("The agent is typing…")


async def test_the_agent_closes_and_the_widget_shows_the_conversation_ended(
    start_web: Callable[..., Any], context: Any, page: Any
) -> None:
    host = await start_web()
    console = await Console.open(page, host, await host.add_agent("alice"))
    widget = await Widget.open_demo(await context.new_page(), host)
    await widget.send("thanks, that is all")
    await expect(console.message("thanks, that is all")).to_be_visible()

    await page.get_by_role("button", name="Close conversation").click()
    await expect(widget.status).to_have_attribute("data-conversation-status", "closed")
    await expect(widget.status).to_have_text("The conversation has ended")
    await expect(page.locator("nav.conversations")).to_contain_text("Ended")
    await expect(page.locator("main.conversation .ended")).to_have_text("Closed")
    await expect(page.locator("#agent-composer")).to_be_disabled()


async def test_the_agent_transfers_to_a_team_and_the_colleague_gets_it(
    start_web: Callable[..., Any], context: Any, page: Any
) -> None:
    host = await start_web()
    console = await Console.open(page, host, await host.add_agent("alice"))
    bob_token = await host.add_agent("bob", teams=("vip",))
    assert host.client is not None
    bob = AgentClient(await host.client.ws_connect("/ws/agent", headers={"Authorization": f"Bearer {bob_token}"}))
    await bob.expect("welcome")
    widget = await Widget.open_demo(await context.new_page(), host)
    await widget.send("I am a VIP customer")
    await expect(console.message("I am a VIP customer")).to_be_visible()

    await page.get_by_role("button", name="Transfer…").click()
    await page.get_by_label("To team").fill("vip")
    await page.get_by_role("button", name="Transfer", exact=True).click()
    assigned = await bob.expect("assigned")
    assert [m["body"] for m in assigned["messages"]] == ["I am a VIP customer"]
    await expect(page.locator("main.conversation .ended")).to_have_text("Transferred")
    await expect(widget.status).to_have_text("bob is helping you")
    await bob.close()


async def test_the_agent_transfers_to_a_colleague_picked_from_those_online(
    start_web: Callable[..., Any], context: Any, page: Any, watch: Watch
) -> None:
    host = await start_web()
    console = await Console.open(page, host, await host.add_agent("alice"))
    bob = await Console.open(await context.new_page(), host, await host.add_agent("bob", teams=("vip",)))
    carol = await Console.open(await context.new_page(), host, await host.add_agent("carol", teams=("vip",)))
    await carol.page.get_by_label("Status").select_option("away")
    await host.add_agent("dave", teams=("vip",))  # never signed in: not offered
    widget = await Widget.open_demo(await context.new_page(), host)
    await widget.send("Can a senior colleague help?")
    await expect(console.message("Can a senior colleague help?")).to_be_visible()

    await page.get_by_role("button", name="Transfer…").click()
    offered = page.get_by_role("list", name="Colleagues with the console open").get_by_role("listitem")
    await expect(offered).to_have_text([re.compile(r"bob\s*Online\s*vip"), re.compile(r"carol\s*Away\s*vip")])
    options = page.locator("#transfer-teams option")
    await expect(options).to_have_count(5)  # every team of the host, with how many of its agents are online
    assert await options.first.get_attribute("value") == "support"
    assert "1 online" in (await options.first.text_content() or "")
    await offered.filter(has_text="bob").get_by_role("button", name="bob").click()
    await expect(page.get_by_label("or to agent")).to_have_value("bob")
    await page.get_by_role("button", name="Transfer", exact=True).click()

    await expect(bob.message("Can a senior colleague help?")).to_be_visible()
    await expect(bob.conversation()).to_have_count(1)
    await expect(page.locator("main.conversation .ended")).to_have_text("Transferred")
    await expect(widget.status).to_have_text("bob is helping you")
    await bob.send("Hello, this is bob.")
    await expect(widget.message("Hello, this is bob.")).to_be_visible()
    await expect(carol.conversation()).to_have_count(0)
    assert watch.page_errors == [] and watch.console_errors == []


async def test_an_unknown_team_is_refused_with_the_hosts_reason(
    start_web: Callable[..., Any], context: Any, page: Any
) -> None:
    host = await start_web()
    console = await Console.open(page, host, await host.add_agent("alice"))
    widget = await Widget.open_demo(await context.new_page(), host)
    await widget.send("hello")
    await expect(console.message("hello")).to_be_visible()
    await page.get_by_role("button", name="Transfer…").click()
    await page.get_by_label("To team").fill("nobody")
    await page.get_by_role("button", name="Transfer", exact=True).click()
    await expect(page.locator(".notice")).to_have_text(re.compile(r"unknown_team.*'nobody'"))
    await expect(page.locator("main.conversation .controls")).to_be_visible()  # still ours


async def test_away_agents_get_no_new_chat_and_the_visitor_sees_the_queue(
    start_web: Callable[..., Any], context: Any, page: Any
) -> None:
    host = await start_web()
    await Console.open(page, host, await host.add_agent("alice"))
    await page.get_by_label("Status").select_option("away")
    await expect(page.get_by_label("Status")).to_have_value("away")
    widget = await Widget.open_demo(await context.new_page(), host)
    await widget.leave_message("anyone there?")  # nobody online: the widget offers the offline form
    await expect(widget.status).to_have_text("You are number 1 in the queue")
    await expect(page.locator("nav.conversations .conv-item")).to_have_count(0)

    await page.get_by_label("Status").select_option("online")
    await expect(page.locator("nav.conversations .conv-item")).to_have_count(1)
    await expect(widget.status).to_have_text("alice is helping you")


async def test_a_refused_token_is_said_plainly_and_not_kept(
    start_web: Callable[..., Any], page: Any, watch: Watch
) -> None:
    host = await start_web()
    await host.add_agent("alice")
    await page.goto(host.url("/"))
    await page.get_by_text("Sign in with an agent token").click()
    await page.get_by_label("Agent token").fill("kfa_1_not-the-secret")
    await page.get_by_role("button", name="Connect").click()
    await expect(page.locator(".signin .note")).to_have_text("The host refused this token")
    await expect(page.get_by_label("Name")).to_be_visible()
    assert await page.evaluate("sessionStorage.getItem('kefu.agentToken')") is None
    await expect(page.locator(".topbar")).to_have_count(0)  # no console, no socket retried with it