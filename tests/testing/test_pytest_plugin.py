"""The fixtures the host ships for plugin tests (kefu_host.testing.pytest_plugin), used as an author uses them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kefu_host.testing.pytest_plugin import Events, KefuApp

ROOT = Path(__file__).resolve().parents[2]
NIGHT = """
rule desk.night priority 100
  when time.hour < 6
  then assign_team "backup"
end
rule desk.day priority -100
  when true
  then assign_team "support"
end
"""


async def test_the_fake_clock_is_what_the_rules_read(kefu_app: KefuApp, kefu_agent: Any, kefu_visitor: Any,
                                                     kefu_clock: Any) -> None:
    kefu_clock.set("2026-11-29T03:00+08:00")  # 3 a.m. in the rules' zone
    host = await kefu_app(rules=NIGHT, environ={"KEFU_RULES__TIMEZONE": "Asia/Shanghai"})
    night = await kefu_agent(host, "nina", teams=("backup",))
    day = await kefu_agent(host, "dan", teams=("support",))
    first = await kefu_visitor(host)
    await first.say("anyone there?")
    assert (await night.expect("assigned"))["conversation"]["team"] == "backup"

    kefu_clock.advance(6 * 3600)  # 9 a.m.
    second = await kefu_visitor(host)
    await second.say("good morning")
    assert (await day.expect("assigned"))["conversation"]["team"] == "support"


async def test_plugins_by_path_with_settings_and_signed_events(kefu_app: KefuApp, kefu_agent: Any,
                                                               kefu_visitor: Any, kefu_events: Events) -> None:
    host = await kefu_app([(ROOT / "plugins" / "ticket", {"facts_ttl": 0})])
    assert (await host.plugins())["ticket"]["status"] == "loaded"
    agent = await kefu_agent(host, "alice")
    visitor = await kefu_visitor(host, uid="u-9")
    cid = (await visitor.say("hi"))["conversation_id"]
    await agent.expect("assigned")
    ticket = (await host.call(agent, "ticket.create", {"subject": "s"}, cid))["result"]
    answer = await kefu_events.send(host, "ticket.changed", {"uid": "u-9", "ticket_id": ticket["id"], "status": "solved"})
    assert answer["status"] == "accepted"
    refused = await kefu_events.post(host, kefu_events.envelope("ticket.changed", {"uid": "u-9"}))
    assert refused.status == 422
    assert (await visitor.expect("message", sender="system"))["body"].endswith("is now solved.")


async def test_each_host_has_its_own_files_unless_restarted_on_them(kefu_app: KefuApp, tmp_path: Path) -> None:
    one, two = await kefu_app(), await kefu_app()
    assert one.config.base_dir != two.config.base_dir
    await one.add_agent("alice")
    again = await kefu_app(directory=one.config.base_dir)
    assert (await again.agent(await again.add_agent("bob"))).frames[0]["agent"]["name"] == "bob"
    assert again.config.base_dir == one.config.base_dir and one.config.base_dir.parent == tmp_path
