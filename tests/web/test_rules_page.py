"""The admin's rules page: the active revision, the rule count, the last reload error, a reload, and what the rules
decide now for the open conversation, rule by rule."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.async_api import expect
from sqlalchemy import update

from kefu_host.config import resolve_path
from kefu_host.keys import RULES, STORE
from kefu_host.routing import revisions
from kefu_host.routing.revisions import NodeReport
from kefu_host.store.models import RuleNode, utcnow
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


async def test_the_rules_page_lists_what_each_host_runs_as_text(
    start_web: Callable[..., Any], page: Any, watch: Watch
) -> None:
    """Every host's heartbeat (``nodes`` of GET /api/rules) is a row: name, revision, loaded at; a late one is marked,
    and a host name that looks like markup stays text."""
    host: WebHost = await start_web(environ={"KEFU_CLUSTER__NODE_ID": "node-a"})
    store = host.app[STORE]
    revision = host.app[RULES].holder.current.revision
    loaded = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
    late = utcnow() - timedelta(hours=1)  # late, but not yet forgotten (a day)
    odd = '<img src=x onerror="window.injected=1">'
    await revisions.report(store, NodeReport(odd, "ab" * 32, loaded, None, None, None, late, late))
    # a report is written as seen now: make this one an hour late
    await store.writer.transaction(lambda conn: conn.execute(
        update(RuleNode).where(RuleNode.node_id == odd).values(seen_at=late)))
    await host.add_agent("root", password=PASSWORD, admin=True)
    await Console.sign_in(page, host, "root", PASSWORD)

    await page.get_by_role("button", name="Rules").click()
    table = page.locator("section.rules-page table.nodes-table")
    await expect(table.locator("caption")).to_have_text("What each host runs")
    rows = table.locator("tbody tr")
    await expect(rows).to_have_count(2)
    first, second = rows.nth(0), rows.nth(1)  # by node name: "<" sorts before "n"
    await expect(first.locator(".node-name")).to_have_text(f"{odd} (no heartbeat)")
    await expect(first.locator(".node-revision")).to_have_text("ab" * 6)
    await expect(first.locator(".node-loaded-at")).not_to_have_text("—")
    await expect(second.locator(".node-name")).to_have_text("node-a")
    await expect(second.locator(".node-revision")).to_have_text(revision[:12])
    assert await second.get_attribute("data-stale") == "false"
    assert await table.locator("img").count() == 0
    assert await page.evaluate("window.injected") is None
    assert watch.page_errors == []
