"""``/api/plugins`` lists plugins from every source with live per-hook counts; enablement changes at run time."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from kefu_host.app import RUNNER_OPTIONS, create_app
from kefu_host.config import load_config
from kefu_host.keys import SIGHUP
from kefu_host.testing.clients import AgentClient
from tests.chat.conftest import Host
from tests.conftest import admin_headers
from tests.plugins.conftest import call

PROBE = """
from aiohttp import web
from kefu_host.sdk import AgentAction, hookimpl

heard = []


async def ping(ctx):
    return {"pong": True}


@hookimpl
async def kefu_message_received(message):
    heard.append(message.body)


@hookimpl
def kefu_agent_actions():
    return [AgentAction("probe.ping", ping, {"type": "object"}, "answers pong")]


async def hello(request):
    return web.json_response({"hello": "probe"})


@hookimpl
def kefu_routes():
    return [web.get("/hello", hello)]
"""

WITNESS = """
import asyncio
from kefu_host.sdk import hookimpl

heard = []
changed = asyncio.Condition()


@hookimpl
async def kefu_message_received(message):
    async with changed:
        heard.append(message.body)
        changed.notify_all()
"""

ENTRY_POINT_PLUGIN = """
from kefu_host.sdk import hookimpl

started = []


@hookimpl
def kefu_startup(host):
    started.append(host.name)
"""


@pytest.fixture
def serve(aiohttp_client: Any) -> Callable[..., Any]:
    """Start the app on a loopback socket, entry points included (``start_app`` leaves them out)."""

    async def start(config_path: Path, plugins: list[tuple[str, dict[str, Any]]]) -> TestClient[Any, Any]:
        app = create_app(load_config(config_path, environ={}), plugins=plugins, entry_points=True)
        server = TestServer(app)
        await server.start_server(**RUNNER_OPTIONS)
        return await aiohttp_client(server)

    return start


@pytest.fixture
def entry_point_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An installed distribution declaring a ``kefu_host`` entry point: a dist-info directory on sys.path."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "kefu_api_ep_plugin.py").write_text(textwrap.dedent(ENTRY_POINT_PLUGIN))
    dist = site / "kefu_api_ep_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: kefu-api-ep-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[kefu_host]\nfrom_dist = kefu_api_ep_plugin\n")
    monkeypatch.syspath_prepend(str(site))
    yield "from_dist"
    sys.modules.pop("kefu_api_ep_plugin", None)


def plugin_file(root: Path, name: str, source: str) -> str:
    path = root / "plugin_src" / f"{name}.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return str(path)


async def plugins_by_name(client: TestClient[Any, Any]) -> dict[str, dict[str, Any]]:
    response = await client.get("/api/plugins", headers=admin_headers())
    assert response.status == 200
    return {p["name"]: p for p in (await response.json())["plugins"]}


async def test_a_command_line_plugin_and_an_entry_point_plugin_both_appear(
    tmp_path: Path, write_config: Callable[..., Path], serve: Callable[..., Any], entry_point_dist: str
) -> None:
    probe = plugin_file(tmp_path, "probe", PROBE)
    client = await serve(write_config(), [(probe, {})])
    plugins = await plugins_by_name(client)
    assert (plugins["probe"]["origin"], plugins["probe"]["status"]) == ("command line", "loaded")
    assert plugins["probe"]["hooks"] == ["kefu_agent_actions", "kefu_message_received", "kefu_routes"]
    assert (plugins[entry_point_dist]["origin"], plugins[entry_point_dist]["status"]) == ("entry point", "loaded")
    assert plugins[entry_point_dist]["location"] == "kefu_api_ep_plugin"
    assert sys.modules["kefu_api_ep_plugin"].started == [entry_point_dist]  # its kefu_startup got its own host
    stats = plugins[entry_point_dist]["hook_stats"]["kefu_startup"]
    assert (stats["calls"], stats["failures"], stats["timeouts"]) == (1, 0, 0)
    assert plugins["probe"]["hook_stats"]["kefu_agent_actions"]["calls"] == 1  # collected once while building


@pytest.fixture
async def chat(tmp_path: Path, write_config: Callable[..., Path], serve: Callable[..., Any]) -> AsyncIterator[Any]:
    probe = plugin_file(tmp_path, "probe", PROBE)
    witness = plugin_file(tmp_path, "witness", WITNESS)
    config = write_config()
    client = await serve(config, [(probe, {}), (witness, {})])
    host = Host(client)
    agent = await host.agent(await host.add_agent("alice"))
    visitor = await host.visitor()
    cid = int((await visitor.say("first"))["conversation_id"])
    await agent.expect("assigned", timeout=5)
    yield host, config, agent, visitor, cid
    sys.modules.pop("kefu_plugin_probe", None)
    sys.modules.pop("kefu_plugin_witness", None)


async def heard_by_witness(count: int) -> None:
    """Wait until the witness plugin heard ``count`` messages: the probe's implementation ran in the same call."""
    witness = sys.modules["kefu_plugin_witness"]
    async with witness.changed:
        await asyncio.wait_for(witness.changed.wait_for(lambda: len(witness.heard) >= count), 5)


def set_probe_enabled(config: Path, enabled: bool) -> None:
    text = config.read_text(encoding="utf-8").split("\n[plugins.probe]")[0]
    config.write_text(text + f"\n[plugins.probe]\nenabled = {str(enabled).lower()}\n", encoding="utf-8")


async def test_stats_move_with_the_calls(chat: Any) -> None:
    host, _, _, visitor, _ = chat
    await heard_by_witness(1)
    before = (await plugins_by_name(host.client))["probe"]["hook_stats"]["kefu_message_received"]
    await visitor.say("second")
    await heard_by_witness(2)
    after = (await plugins_by_name(host.client))["probe"]
    stats = after["hook_stats"]["kefu_message_received"]
    assert before["calls"] == 1 and stats["calls"] == 2
    assert stats["p50_ms"] is not None and stats["p99_ms"] >= stats["p50_ms"]
    assert after["calls"] >= 3  # kefu_agent_actions, two messages


async def test_a_plugin_disabled_by_reload_stops_and_comes_back(chat: Any) -> None:
    host, config, agent, visitor, cid = chat
    probe = sys.modules["kefu_plugin_probe"]
    assert (await call(agent, "probe.ping", conversation_id=cid))["result"] == {"pong": True}
    assert (await host.client.get("/plugins/probe/hello")).status == 200

    set_probe_enabled(config, False)
    response = await host.client.post("/api/plugins/reload", headers=admin_headers())
    assert response.status == 200
    body = await response.json()
    assert (body["disabled"], body["enabled"], body["restart_needed"]) == (["probe"], [], [])
    record = next(p for p in body["plugins"] if p["name"] == "probe")
    assert (record["status"], record["enabled"]) == ("disabled", False)

    await visitor.say("while disabled")
    await heard_by_witness(2)
    assert probe.heard == ["first"]  # its hook was not called for the second message
    answer = await call(agent, "probe.ping", conversation_id=cid)
    assert answer["error"]["code"] == "unknown_action"
    token = await host.add_agent("bob")
    second = AgentClient(await host.client.ws_connect("/ws/agent", headers={"Authorization": f"Bearer {token}"}))
    welcome = await second.expect("welcome")
    assert "probe.ping" not in [a["name"] for a in welcome["actions"]]
    await second.close()
    refused = await host.client.get("/plugins/probe/hello")
    assert refused.status == 503
    assert (await refused.json())["error"]["code"] == "plugin_disabled"

    set_probe_enabled(config, True)
    body = await (await host.client.post("/api/plugins/reload", headers=admin_headers())).json()
    assert body["enabled"] == ["probe"]
    await visitor.say("enabled again")
    await heard_by_witness(3)
    assert probe.heard == ["first", "enabled again"]
    assert (await call(agent, "probe.ping", conversation_id=cid))["ok"] is True


async def test_sighup_applies_enablement(chat: Any) -> None:
    host, config, _, _, _ = chat
    set_probe_enabled(config, False)
    # without the app's handler SIGHUP would end the test run: refuse to send it then
    assert host.app[SIGHUP].installed
    os.kill(os.getpid(), signal.SIGHUP)  # the app runs in this process's main thread, so it takes the signal
    for _ in range(500):  # bounded: the reload is a file read away
        if (await plugins_by_name(host.client))["probe"]["status"] == "disabled":
            break
        await asyncio.sleep(0.01)
    assert (await plugins_by_name(host.client))["probe"]["status"] == "disabled"


async def test_reloading_needs_the_admin_and_a_valid_file(chat: Any) -> None:
    host, config, _, _, _ = chat
    assert (await host.client.post("/api/plugins/reload")).status == 401
    config.write_text(config.read_text(encoding="utf-8") + "\n[chat\n", encoding="utf-8")
    response = await host.client.post("/api/plugins/reload", headers=admin_headers())
    assert response.status == 422
    body = await response.json()
    assert body["error"]["code"] == "invalid_config" and "invalid TOML" in body["error"]["message"]
    assert (await plugins_by_name(host.client))["probe"]["status"] == "loaded"


async def test_a_file_saved_in_another_encoding_is_refused_and_nothing_changes(chat: Any) -> None:
    host, config, _, _, _ = chat
    set_probe_enabled(config, False)
    config.write_bytes(("# 客服\n" + config.read_text(encoding="utf-8")).encode("gbk"))  # the probe off, in GBK
    response = await host.client.post("/api/plugins/reload", headers=admin_headers())
    assert response.status == 422
    body = await response.json()
    assert body["error"]["code"] == "invalid_config" and "not UTF-8" in body["error"]["message"]
    assert (await plugins_by_name(host.client))["probe"]["status"] == "loaded"
