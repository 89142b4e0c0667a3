"""Fixtures for the bundled plugins: a host with them, identified visitors, MariaDB, a port nobody serves."""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from kefu_host.chat.tokens import identity_hash
from kefu_host.config import load_config
from kefu_host.testing.clients import AgentClient, VisitorClient
from tests.conftest import ADMIN_TOKEN, IN_CI
from tests.events.conftest import SOURCES, EventHost

ROOT = Path(__file__).resolve().parents[2]
MARIADB_URL = os.environ.get("KEFU_TEST_MARIADB_URL")
#: Teams of the test config: the base ones plus a billing desk for payment rules.
TEAMS = ("support", "vip", "risk-control", "backup", "en-desk", "billing")


def plugin_path(name: str) -> str:
    return str(ROOT / "plugins" / name)


def load_plugin_package(name: str) -> ModuleType:
    """A bundled plugin imported as a package, as the host imports a plugin directory."""
    module_name = f"kefu_test_plugin_{name}"
    spec = importlib.util.spec_from_file_location(
        module_name, ROOT / "plugins" / name / "__init__.py", submodule_search_locations=[plugin_path(name)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class PluginHost(EventHost):
    """A running host with plugins loaded: signed events (source ``shop``), visitors, agents and actions."""

    async def identified_visitor(self, uid: str) -> VisitorClient:
        return await self.visitor(user_id=uid, user_hash=identity_hash("test-identity-secret", uid))

    async def chatting(
        self, uid: str, agent_name: str = "alice", teams: tuple[str, ...] = ("support",)
    ) -> tuple[AgentClient, VisitorClient, int]:
        """An agent holding a conversation with identified customer ``uid``."""
        agent = await self.agent(await self.add_agent(agent_name, teams=teams))
        visitor = await self.identified_visitor(uid)
        cid = int((await visitor.say("hello"))["conversation_id"])
        await agent.expect("assigned", timeout=5)
        return agent, visitor, cid

    async def plugin_record(self, name: str) -> dict[str, Any]:
        response = await self.client.get("/api/plugins", headers=admin())
        assert response.status == 200
        return next(p for p in (await response.json())["plugins"] if p["name"] == name)


async def call(
    agent: AgentClient,
    action: str,
    args: dict[str, Any] | None = None,
    conversation_id: int | None = None,
    ref: str | None = None,
) -> dict[str, Any]:
    """Send an ``action`` frame and wait for its ``action_result``."""
    ref = ref or agent.new_id()
    frame: dict[str, Any] = {"type": "action", "ref": ref, "action": action, "args": args or {}}
    if conversation_id is not None:
        frame["conversation_id"] = conversation_id
    await agent.send(frame)
    return await agent.expect("action_result", ref=ref)


@pytest.fixture
def start_host(start_app: Callable[..., Any], write_config: Callable[..., Path]) -> Callable[..., Any]:
    """``host = await start_host(plugins=[(plugin_path("ticket"), {...})], rules=RULES, extra=TOML)``."""

    async def start(
        *, plugins: list[tuple[str, dict[str, Any]]], rules: str | None = None, extra: str = ""
    ) -> PluginHost:
        path = write_config(SOURCES + extra)
        text = path.read_text(encoding="utf-8")
        base_teams = 'teams = ["support", "vip", "risk-control", "backup", "en-desk"]'
        assert base_teams in text, "the base test config changed its teams"
        path.write_text(
            text.replace(base_teams, f"teams = {list(TEAMS)!r}".replace("'", '"')), encoding="utf-8"
        )
        if rules is not None:
            (path.parent / "rules" / "routing.rule").write_text(textwrap.dedent(rules), encoding="utf-8")
        config = load_config(path, environ={})
        return PluginHost(await start_app(config=config, plugins=plugins))

    return start


@pytest.fixture
def closed_port() -> int:
    """A loopback port with nothing listening: connecting to it is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def mariadb_url() -> str:
    """A MariaDB/MySQL database without the ticket plugin's tables (they are dropped first)."""
    if not MARIADB_URL:
        if IN_CI:
            pytest.fail("KEFU_TEST_MARIADB_URL must be set in CI")
        pytest.skip("KEFU_TEST_MARIADB_URL not set")
    import pymysql
    from sqlalchemy.engine import make_url

    url = make_url(MARIADB_URL)
    conn = pymysql.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 3306,
        user=url.username or "root",
        password=url.password or "",
        database=url.database,
    )
    try:
        with conn.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS kefu_ticket_changes")
            cursor.execute("DROP TABLE IF EXISTS kefu_tickets")
        conn.commit()
    finally:
        conn.close()
    return MARIADB_URL
