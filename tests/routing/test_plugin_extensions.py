"""Plugins add fields (with their facts) and actions to the rule language."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kefu_host.keys import PLUGIN_MANAGER

PLUGIN = """
from kefu_host import hookimpl
from kefu_host.rules import ActionSpec, ArgType, FieldSpec, FieldType


class Tickets:
    def __init__(self):
        self.flagged = []

    @hookimpl
    def kefu_rule_fields(self):
        return [FieldSpec("ticket.open_count", FieldType.NUMBER, "open tickets of the customer")]

    @hookimpl
    def kefu_rule_actions(self):
        return [ActionSpec("ticket_flag", (ArgType.TEXT,), "flag the customer's open tickets")]

    @hookimpl
    async def kefu_conversation_facts(self, conversation, customer):
        return {"ticket.open_count": 3, "customer.ltv": 10**9}  # the second is not ours: ignored

    @hookimpl
    async def kefu_rule_action(self, action, args, rule_id, conversation):
        self.flagged.append((action, tuple(args), rule_id, conversation.id))


def kefu_plugin(settings):
    return Tickets()
"""

RULES = """
group routing match first
rule tickets.many priority 10 in group routing
  when ticket.open_count >= 2 and customer.ltv < 1000
  then assign_team "vip" ticket_flag "repeat contact"
end
rule default.support priority -1000 in group routing
  when true
  then assign_team "support"
end
"""


async def test_plugin_fields_and_actions_drive_routing(
    start_host: Callable[..., Any], write_rules: Callable[..., Any], tmp_path: Path
) -> None:
    (tmp_path / "tickets.py").write_text(textwrap.dedent(PLUGIN))
    write_rules(RULES)
    host = await start_host(plugins=[(str(tmp_path / "tickets.py"), {})])
    vip = await host.agent(await host.add_agent("v", teams=("vip",)))
    visitor = await host.visitor()
    cid = (await visitor.say("my tickets are still open"))["conversation_id"]
    assert (await vip.expect("assigned"))["conversation"]["team"] == "vip"
    plugin = host.app[PLUGIN_MANAGER].get_plugin("tickets")
    assert plugin.flagged == [("ticket_flag", ("repeat contact",), "tickets.many", cid)]


def test_rules_check_knows_plugin_fields(write_rules: Callable[..., Any], write_config: Callable[..., Path],
                                         tmp_path: Path) -> None:
    (tmp_path / "tickets.py").write_text(textwrap.dedent(PLUGIN))
    write_rules(RULES)
    cfg = write_config()

    def check(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kefu_host", "--config", str(cfg), *extra, "rules", "check"],
                              capture_output=True, text=True, timeout=60)

    without = check()
    assert without.returncode == 1 and "unknown field ticket.open_count" in without.stderr
    assert check("--plugin", str(tmp_path / "tickets.py")).returncode == 0
