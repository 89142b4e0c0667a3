"""The plugin's ``host``: its name, settings, logger, HTTP session and database; frames of its own to either side."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import Column, Integer, MetaData, Table, insert, select

from kefu_host.config import load_config
from kefu_host.keys import CONFIG
from kefu_host.plugin_host import Host, HostNotReady
from kefu_host.plugin_registry import PluginRegistry
from kefu_host.sdk import PluginStore
from tests.plugin_host.conftest import Chat


async def test_the_host_names_the_plugin_and_gives_its_settings_read_only(chat: Chat) -> None:
    host = chat.plugin
    assert host.name == "facade"
    assert dict(host.settings) == {"greeting": "hi", "nested": {"a": 1}}
    with pytest.raises(TypeError):
        host.settings["greeting"] = "changed"
    assert host.base_dir == chat.base_dir


async def test_frames_of_the_plugin_reach_the_agent_and_the_visitor(chat: Chat) -> None:
    host, cid = chat.plugin, chat.conversation_id
    assert await host.send_to_agent(cid, "facade.hint", {"sku": "A1"}) is True
    got = await chat.agent.expect("facade.hint")
    assert got == {"type": "facade.hint", "plugin": "facade", "conversation_id": cid, "data": {"sku": "A1"}}
    assert await host.send_to_visitor(cid, "facade.status", {"ticket": 7}) is True
    assert (await chat.visitor.expect("facade.status"))["data"] == {"ticket": 7}
    assert await host.send_to_visitor(10**9, "facade.status", {}) is False


@pytest.mark.parametrize(
    ("kind", "data", "error"),
    [
        ("other.hint", {}, "must be 'facade.<verb>'"),
        ("facade", {}, "must be 'facade.<verb>'"),
        ("facade.Bad-Verb", {}, "must be 'facade.<verb>'"),
        ("facade.hint", ["not", "a", "mapping"], "must be a mapping"),
        ("facade.hint", {"x": object()}, "not JSON"),
        ("facade.hint", {"x": "y" * 70_000}, "over 65536"),
    ],
)
async def test_a_frame_the_protocol_could_not_carry_is_refused(chat: Chat, kind: str, data: Any, error: str) -> None:
    with pytest.raises((TypeError, ValueError), match=error):
        await chat.plugin.send_to_agent(chat.conversation_id, kind, data)


class Notes(PluginStore):
    metadata = MetaData()
    notes = Table("facade_notes", metadata, Column("id", Integer, primary_key=True), Column("n", Integer))


async def test_the_plugin_opens_its_own_database_next_to_kefu_toml(chat: Chat) -> None:
    store = await chat.plugin.open_store(Notes, "sqlite+aiosqlite:///data/facade.db")
    async with store.engine.begin() as conn:
        await conn.execute(insert(Notes.notes).values(n=5))
        assert (await conn.execute(select(Notes.notes.c.n))).scalar_one() == 5
    assert (chat.base_dir / "data" / "facade.db").is_file()


async def test_the_http_session_is_the_plugins_own_and_reaches_other_services(chat: Chat) -> None:
    session = chat.plugin.http
    assert session is chat.plugin.http
    url = str(chat.host.client.make_url("/livez"))
    async with session.get(url) as response:
        assert response.status == 200
    assert session.headers["User-Agent"] == "kefu-host-plugin/facade"


async def test_the_logger_names_the_plugin(chat: Chat) -> None:
    from structlog.testing import capture_logs

    with capture_logs() as logs:
        chat.plugin.log.info("looked up", sku="A1")
    assert logs[0]["plugin"] == "facade" and logs[0]["sku"] == "A1"


async def test_parts_that_are_not_open_say_so(make_config: Any) -> None:
    app = web.Application()
    app[CONFIG] = load_config(None, environ={})
    host = Host(app, PluginRegistry(5.0)).for_plugin("early")
    with pytest.raises(HostNotReady, match="chat service is not running"):
        await host.conversations.get(1)
    with pytest.raises(HostNotReady, match="store is not open"):
        await host.agents.by_name("alice")
    await Host(app, PluginRegistry(5.0)).close()
