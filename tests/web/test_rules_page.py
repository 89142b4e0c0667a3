"""The admin's rules page: the active revision, the rule count, the last reload error, a reload, and what the rules
decide now for the open conversation, rule by rule."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

from playwright.async_api import expect

from kefu_host.config import resolve_path
from kefu_host.keys import RULES
from tests.web.conftest import Watch, WebHost, screenshot_path
from tests.web.pages import Console, Widget

PASSWORD = "the admin's long password"
RULES_TEXT = """
group routing match first

rule risk.scam priority 900 in group routing
  when message.text contains "scam"
  then assign_team "risk-control" tag "sensitive"
end

rule vip.ltv priority 500 in group routing
  when customer.ltv >= 10000
  then assign_team "vip"
end

rule default.support priority -1000 in group routing
  when true
  then assign_team "support"
end
"""


async def test_an_admin_sees_the_rules_reloads_them_and_explains_the_open_conversation(
    start_web: Callable[..., Any], context: Any, page: Any, watch: Watch
) -> None:
    host: WebHost = await start_web(environ={"KEFU_RULES__WATCH": "false", "KEFU_RULES__RESCAN_INTERVAL": "0"})
    rules_dir = resolve_path(host.config, host.config.rules.directory)
    (rules_dir / "routing.rule").write_text(textwrap.dedent(RULES_TEXT), encoding="utf-8")
    await host.app[RULES].reloader.reload(trigger="test")
    await host.add_agent("root", teams=("support", "risk-control"), password=PASSWORD, admin=True)
    console = await Console.sign_in(page, host, "root", PASSWORD)

    widget = await Widget.open_demo(await context.new_page(), host)
    await widget.send("I think this is a scam")
    await expect(console.message("I think this is a scam")).to_be_visible()

    await page.get_by_role("button", name="Rules").click()
    page_ = page.locator("section.rules-page")
    revision = host.app[RULES].holder.current.revision
    await expect(page_.locator(".revision")).to_have_text(revision[:12])
    await expect(page_.locator(".rule-count")).to_have_text("3")
    await expect(page_.locator(".last-error")).to_have_text("None")

    await page_.get_by_role("button", name="Explain conversation #1").click()
    explanation = page_.locator(".explanation")
    await expect(explanation.locator(".decision")).to_have_text("Decision now: team risk-control (rule risk.scam)")
    await expect(explanation.locator(".fired")).to_have_text("risk.scam")
    rows = explanation.locator("tbody tr")
    await expect(rows).to_have_count(3)
    assert [await r.get_attribute("data-status") for r in await rows.all()] == ["fired", "skipped", "skipped"]
    await expect(rows.first.locator("td").last).to_have_text("fires")
    if path := screenshot_path("rules.png"):
        await page.screenshot(path=str(path))

    (rules_dir / "broken.rule").write_text('rule broken.x priority 1\n  when customer.ltvv > 1\n  then tag "x"\nend\n')
    await page_.get_by_role("button", name="Reload rules").click()
    await expect(page_.locator(".reload-result")).to_contain_text("Reload: failed.")
    await expect(page_.locator(".reload-result li")).to_contain_text("did you mean customer.ltv?")
    await expect(page_.locator(".last-error")).to_contain_text("customer.ltvv")
    await expect(page_.locator(".revision")).to_have_text(revision[:12])  # the last good set stays

    (rules_dir / "broken.rule").unlink()
    await page_.get_by_role("button", name="Reload rules").click()
    await expect(page_.locator(".reload-result")).to_contain_text("Reload: unchanged.")

    await page.get_by_role("button", name="Conversations").click()
    await expect(console.message("I think this is a scam")).to_be_visible()
    assert watch.page_errors == []
    # the one failed request is the refused reload this test asked for (Chromium logs every 4xx)
    refused = "Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"
    assert watch.console_errors == [refused]


async def test_an_agent_who_is_not_an_admin_has_no_rules_page(start_web: Callable[..., Any], page: Any) -> None:
    host: WebHost = await start_web()
    await host.add_agent("alice", password=PASSWORD)
    console = await Console.sign_in(page, host, "alice", PASSWORD)
    await expect(page.locator(".topbar .agent-name")).to_have_text("alice")
    await console.expect_connected()
    await expect(page.get_by_role("button", name="Rules")).to_have_count(0)
