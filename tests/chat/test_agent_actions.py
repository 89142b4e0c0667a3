"""Agents call plugin actions from the console like local methods; failures stay with the action."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

PLUGIN = """
import asyncio
from kefu_host import hookimpl
from kefu_host.agent_actions import ActionError, AgentAction

STOCK = {"A1": 12}

async def stock(ctx, sku):
    if sku not in STOCK:
        raise ActionError("not_found", f"no SKU {sku}")
    return {"sku": sku, "available": STOCK[sku], "asked_by": ctx.agent.name,
            "conversation": ctx.conversation.id if ctx.conversation else None}

async def slow(ctx):
    await asyncio.sleep(60)

async def broken(ctx):
    raise RuntimeError("ERP exploded")

@hookimpl
def kefu_agent_actions():
    return [
        AgentAction("erp.inventory", stock, {"type": "object", "required": ["sku"],
                    "properties": {"sku": {"type": "string"}}, "additionalProperties": False}, "stock of a SKU"),
        AgentAction("erp.slow", slow),
        AgentAction("erp.broken", broken),
    ]
"""


async def test_agents_call_actions_and_get_results_or_clear_errors(
    start_host: Callable[..., Any], tmp_path: Path
) -> None:
    (tmp_path / "erp.py").write_text(textwrap.dedent(PLUGIN))
    host = await start_host("[plugins.erp]\nhook_timeout = 0.3\n", plugins=[(str(tmp_path / "erp.py"), {})])
    agent = await host.agent(await host.add_agent("alice"))
    assert [a["name"] for a in agent.frames[0]["actions"]] == ["erp.inventory", "erp.slow", "erp.broken"]
    visitor = await host.visitor()
    cid = (await visitor.say("is A1 in stock?"))["conversation_id"]
    await agent.expect("assigned")

    async def call(ref: str, action: str, args: Any = None, **extra: Any) -> dict[str, Any]:
        await agent.send({"type": "action", "ref": ref, "action": action, "args": args or {}, **extra})
        return await agent.expect("action_result", ref=ref)

    ok = await call("r1", "erp.inventory", {"sku": "A1"}, conversation_id=cid)
    assert ok["ok"] is True
    assert ok["result"] == {"sku": "A1", "available": 12, "asked_by": "alice", "conversation": cid}
    assert (await call("r2", "erp.inventory", {"sku": "ZZ"}))["error"]["code"] == "not_found"
    assert (await call("r3", "erp.inventory", {"sku": 5}))["error"] == {"code": "bad_args",
                                                                    "message": "sku: 5 is not of type 'string'"}
    assert (await call("r4", "erp.nothing"))["error"]["code"] == "unknown_action"
    assert (await call("r5", "erp.slow"))["error"]["code"] == "timeout"
    assert (await call("r6", "erp.broken"))["error"] == {"code": "action_failed",
                                                         "message": "RuntimeError: ERP exploded"}
    # the socket still works for chat, and the failures are on the plugin's record
    assert (await agent.say(cid, "yes, 12 left"))["seq"] == 2
    plugins = {p["name"]: p for p in (await (await host.client.get(
        "/api/plugins", headers={"Authorization": "Bearer test-admin-token"})).json())["plugins"]}
    assert plugins["erp"]["errors"] == {"action:erp.broken": 1}
    assert plugins["erp"]["timeouts"] == {"action:erp.slow": 1}


async def test_a_slow_action_does_not_hold_up_chat(start_host: Callable[..., Any], tmp_path: Path) -> None:
    (tmp_path / "erp.py").write_text(textwrap.dedent(PLUGIN))
    host = await start_host("[plugins.erp]\nhook_timeout = 2\n", plugins=[(str(tmp_path / "erp.py"), {})])
    agent = await host.agent(await host.add_agent("alice"))
    visitor = await host.visitor()
    cid = (await visitor.say("hi"))["conversation_id"]
    await agent.expect("assigned")
    await agent.send({"type": "action", "ref": "slow", "action": "erp.slow", "args": {}})
    ack = await asyncio.wait_for(agent.say(cid, "meanwhile, hello"), 1.0)  # answered while the action runs
    assert ack["seq"] == 2
