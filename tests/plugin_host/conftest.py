"""A running host with one plugin that keeps the ``host`` its hooks get, and a conversation held by an agent."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kefu_host.testing.clients import AgentClient, VisitorClient
from tests.chat.conftest import Host

KEEPER = """
from kefu_host.sdk import hookimpl

seen = {}
transfers = []


@hookimpl
def kefu_startup(host):
    seen["host"] = host


@hookimpl
def kefu_conversation_transferred(reason, to_team):
    transfers.append((reason, to_team))


def kefu_plugin(settings):
    import sys
    return sys.modules[__name__]
"""


@dataclass
class Chat:
    host: Host
    plugin: Any  # the plugin's PluginHost
    module: Any
    agent: AgentClient
    visitor: VisitorClient
    conversation_id: int
    base_dir: Path


@pytest.fixture
async def chat(tmp_path: Path, start_app: Callable[..., Any]) -> AsyncIterator[Chat]:
    source = tmp_path / "facade.py"
    source.write_text(textwrap.dedent(KEEPER))
    client = await start_app(plugins=[(str(source), {"greeting": "hi", "nested": {"a": 1}})])
    host = Host(client)
    agent = await host.agent(await host.add_agent("alice", teams=("support", "vip")))
    visitor = await host.visitor()
    cid = int((await visitor.say("hello"))["conversation_id"])
    await agent.expect("assigned", timeout=5)
    module = sys.modules["kefu_plugin_facade"]
    yield Chat(host, module.seen["host"], module, agent, visitor, cid, tmp_path)
    sys.modules.pop("kefu_plugin_facade", None)
