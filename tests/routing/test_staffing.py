"""Teams the rules send chats to that no enabled agent belongs to: logged on (re)load, listed by the API."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

from kefu_host.chat.accounts import set_agent
from kefu_host.keys import STORE
from tests.conftest import admin_headers
from tests.rules.conftest import SHIPPED

#: Where the shipped rules send chats, and which rules (or the config) send them there.
SHIPPED_ROUTES = {
    "backup": ["overflow.burst"],
    "en-desk": ["lang.english"],
    "risk-control": ["risk.sensitive_words"],
    "support": ["default.general", "chat.default_team"],
    "vip": ["vip.high_ltv"],
}
NOT_SUPPORT = ["backup", "en-desk", "risk-control", "vip"]
ROUTE_ALL = 'group g match first\nrule default.x in group g when true then assign_team "{team}" end'
QUIET = {"KEFU_RULES__WATCH": "false", "KEFU_RULES__RESCAN_INTERVAL": "0"}


async def without_agents(host: Any) -> list[dict[str, Any]]:
    body = await (await host.client.get("/api/rules", headers=admin_headers())).json()
    return list(body["teams_without_agents"])


async def test_the_api_lists_routed_teams_no_enabled_agent_belongs_to(
    start_host: Callable[..., Any], rules_dir: Path, db_url: str, tmp_path: Path
) -> None:
    shutil.copytree(SHIPPED, rules_dir, dirs_exist_ok=True)
    host = await start_host(db_url=db_url, environ=QUIET)
    expected = [{"team": team, "sent_by": sent_by} for team, sent_by in sorted(SHIPPED_ROUTES.items())]
    assert await without_agents(host) == expected

    await host.add_agent("newcomer", ("support",))
    assert [item["team"] for item in await without_agents(host)] == NOT_SUPPORT

    # an agent created by the command line, in another process, while the host runs
    teams = [arg for team in NOT_SUPPORT for arg in ("--team", team)]
    config = str(tmp_path / "kefu.toml")
    command = [sys.executable, "-m", "kefu_host", "--config", config, "agents", "add", "alice", *teams]
    added = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=60)
    assert added.returncode == 0, added.stdout + added.stderr
    assert await without_agents(host) == []

    await set_agent(host.app[STORE], "alice", disabled=True)  # a disabled agent takes no chats
    assert [item["team"] for item in await without_agents(host)] == NOT_SUPPORT


async def test_startup_and_every_reload_log_the_teams_without_agents(
    start_host: Callable[..., Any], write_rules: Callable[..., Path]
) -> None:
    write_rules(ROUTE_ALL.format(team="vip"))
    with capture_logs() as logs:
        host = await start_host(environ=QUIET)
    [startup] = [entry for entry in logs if entry["event"] == "teams_without_agents"]
    assert startup["teams"] == ["support", "vip"]
    assert startup["sent_by"] == {"support": ["chat.default_team"], "vip": ["default.x"]}
    assert startup["hint"].endswith("kefu-host agents add NAME --team support --team vip")

    await host.add_agent("v", ("vip",))
    write_rules(ROUTE_ALL.format(team="backup"))
    with capture_logs() as logs:
        response = await host.client.post("/api/rules/reload", headers=admin_headers())
        assert response.status == 200
        await asyncio.gather(*(t for t in asyncio.all_tasks() if t.get_name() == "kefu-rules-staffing"))
    [after] = [entry for entry in logs if entry["event"] == "teams_without_agents"]
    assert after["teams"] == ["backup", "support"]
