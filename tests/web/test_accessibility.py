"""axe-core finds no serious or critical accessibility violations on the setup and sign-in pages, the console and
in the widget."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import expect

from tests.conftest import admin_headers
from tests.web.conftest import user_hash
from tests.web.pages import Console, Widget
from tests.web.test_actions import PLUGIN


def serious(results: Any) -> list[str]:
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
            for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


async def test_console_and_widget_have_no_serious_violations(
    start_web: Callable[..., Any], context: Any, page: Any, tmp_path: Path
) -> None:
    (tmp_path / "erp.py").write_text(textwrap.dedent(PLUGIN))
    host = await start_web(plugins=[(str(tmp_path / "erp.py"), {})])
    axe = Axe()
    await page.goto(host.url("/"))
    await expect(page.get_by_label("Setup token")).to_be_visible()
    assert serious(await axe.run(page)) == []

    await page.get_by_label("Setup token").fill("not the token")
    await page.get_by_label("Name").fill("li.lei")
    await page.get_by_label("Password", exact=True).fill("a long password")
    await page.get_by_label("Password again").fill("a long password")
    await page.get_by_role("button", name="Create and sign in").click()
    await expect(page.locator("#setup-error")).to_contain_text("not the setup token")
    assert serious(await axe.run(page)) == []  # with the error shown

    token = await host.add_agent("alice")
    await page.reload()
    await expect(page.get_by_label("Name")).to_be_visible()
    assert serious(await axe.run(page)) == []
    await page.get_by_text("Sign in with an agent token").click()
    await Console.fill_sign_in(page, "alice", "not her password")
    await expect(page.locator("#login-error")).to_have_text("Wrong name or password.")
    assert serious(await axe.run(page)) == []

    assert host.client is not None
    made = await host.client.post("/api/canned", headers=admin_headers(),
                                  json={"shortcut": "hello", "body": "您好！", "team": "support"})
    assert made.status == 201
    console = await Console.open(page, host, token)
    shop = await context.new_page()
    widget = await Widget.open_demo(shop, host, user={"id": "u-1", "hash": user_hash("u-1"), "name": "Li Lei"})
    await widget.send("hello")
    await expect(console.message("hello")).to_be_visible()
    await host.send_event("user.profile_updated", {"uid": "u-1", "attributes": {"tier": "gold"}})
    await expect(console.customer.locator(".attributes")).to_contain_text("gold")
    await console.send("hi, how can I help?")
    await page.get_by_role("button", name="Transfer…").click()
    await expect(widget.message("how can I help")).to_be_visible()

    assert serious(await axe.run(page)) == []
    frame = next(f for f in shop.frames if "/widget/frame" in f.url)
    assert serious(await axe.run(frame)) == []
    assert serious(await axe.run(shop)) == []  # the bubble on the company's page

    await page.locator("#agent-composer").press_sequentially("/he")  # the canned replies' list, open
    await expect(page.get_by_role("listbox", name="Canned replies").get_by_role("option")).to_have_count(1)
    assert serious(await axe.run(page)) == []
    await page.get_by_role("button", name="Replies").click()
    await expect(page.locator(".canned-list li")).to_have_count(1)
    assert serious(await axe.run(page)) == []
