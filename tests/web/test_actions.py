"""Plugin actions appear in the console as forms drawn from their JSON Schemas; the agent runs one and reads the
answer. No page code knows any plugin."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from tests.web.pages import Console, Widget

PLUGIN = """
from kefu_host import hookimpl
from kefu_host.agent_actions import ActionError, AgentAction

STOCK = {"A1": 12}

async def stock(ctx, sku, warehouse="sh", quantity=1, express=False):
    if sku not in STOCK:
        raise ActionError("not_found", f"no SKU {sku}")
    return {"sku": sku, "warehouse": warehouse, "available": STOCK[sku] - quantity + 1, "express": express,
            "conversation": ctx.conversation.id if ctx.conversation else None}

async def ticket(ctx, title, priority, tags=None):
    return {"ticket": "T-1", "title": title, "priority": priority, "tags": tags or []}

@hookimpl
def kefu_agent_actions():
    return [
        AgentAction("erp.inventory", stock, {
            "type": "object", "required": ["sku"], "additionalProperties": False,
            "properties": {
                "sku": {"type": "string", "title": "SKU", "description": "the product code", "maxLength": 20},
                "warehouse": {"enum": ["sh", "bj"], "default": "sh"},
                "quantity": {"type": "integer", "minimum": 1},
                "express": {"type": "boolean"},
            }}, "stock of a product"),
        AgentAction("ticket.create", ticket, {
            "type": "object", "required": ["title", "priority"],
            "properties": {"title": {"type": "string"}, "priority": {"enum": [1, 2, 3]},
                           "tags": {"type": "array", "items": {"type": "string"}}}}, "open a ticket"),
    ]
"""


async def test_an_action_form_from_its_schema_runs_and_shows_the_answer(
    start_web: Callable[..., Any], context: Any, page: Any, tmp_path: Path
) -> None:
    (tmp_path / "erp.py").write_text(textwrap.dedent(PLUGIN))
    host = await start_web(plugins=[(str(tmp_path / "erp.py"), {})])
    console = await Console.open(page, host, await host.add_agent("alice"))
    widget = await Widget.open_demo(await context.new_page(), host)
    await widget.send("is A1 in stock?")
    await expect(console.message("is A1 in stock?")).to_be_visible()

    panel = page.locator('section.action[data-action="erp.inventory"]')
    await expect(panel.get_by_label("SKU")).to_have_attribute("maxlength", "20")
    await expect(panel.get_by_text("the product code")).to_be_visible()
    await panel.get_by_label("SKU").fill("A1")
    await panel.get_by_label("warehouse").select_option(label="bj")
    await panel.get_by_label("quantity").fill("2")
    await panel.get_by_label("express").check()
    await panel.get_by_role("button", name="Run").click()
    result = panel.locator(".result")
    await expect(result).to_have_class("result ok")
    await expect(result.locator("dt")).to_have_text(["sku", "warehouse", "available", "express", "conversation"])
    await expect(result.locator("dd")).to_have_text(["A1", "bj", "11", "true", "1"])

    await panel.get_by_label("SKU").fill("ZZ")
    await panel.get_by_role("button", name="Run").click()
    await expect(result).to_have_attribute("data-error-code", "not_found")
    await expect(result).to_contain_text("no SKU ZZ")

    # the other plugin's form, from its own schema: enums of numbers, a list typed as JSON, required fields
    ticket = page.locator('section.action[data-action="ticket.create"]')
    await ticket.get_by_role("button", name="Run").click()
    await expect(ticket.locator(".field .error")).to_have_text(["Required", "Required"])
    await expect(ticket.locator(".result")).to_have_count(0)  # nothing was sent
    await ticket.get_by_label("title").fill("refund 订单 #7")
    await ticket.get_by_label("priority").select_option(label="2")
    await ticket.get_by_label("tags").fill('["refund", "vip"]')
    await ticket.get_by_role("button", name="Run").click()
    await expect(ticket.locator(".result")).to_have_class("result ok")
    await expect(ticket.locator(".result")).to_contain_text('"priority": 2')
    await expect(ticket.locator(".result")).to_contain_text('"refund"')


async def test_the_bundled_erp_plugin_shows_the_stock_from_the_erp(
    start_web: Callable[..., Any], context: Any, page: Any
) -> None:
    from tests.plugins.conftest import plugin_path

    # the plugin as the default kefu.toml loads it: its simulator serving the seeded catalogue on loopback
    host = await start_web(plugins=[(plugin_path("erp"), {"simulator": True, "base_url": "http://127.0.0.1:0"})])
    console = await Console.open(page, host, await host.add_agent("alice"))
    widget = await Widget.open_demo(await context.new_page(), host)
    await widget.send("还有电水壶吗？")
    await expect(console.message("电水壶")).to_be_visible()

    panel = page.locator('section.action[data-action="erp.inventory"]')
    await expect(panel.get_by_text("units available for a SKU")).to_be_visible()
    await panel.get_by_label("sku").fill("A1")
    await panel.get_by_role("button", name="Run").click()
    result = panel.locator(".result")
    await expect(result).to_have_class("result ok")
    await expect(result).to_contain_text("12")
    await expect(result).to_contain_text("BJ")

    await panel.get_by_label("sku").fill("NOPE-1")
    await panel.get_by_role("button", name="Run").click()
    await expect(result).to_have_attribute("data-error-code", "not_found")
    await expect(result).to_contain_text("NOPE-1")
