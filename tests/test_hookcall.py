"""The one hook caller: awaits, isolates, times out, keeps firstresult hooks synchronous."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kefu_host import hookimpl
from kefu_host.hookcall import Contribution, Hooks
from kefu_host.plugins import PluginRecord, PluginRegistry, new_plugin_manager


def hooks_with(*plugins: tuple[str, object], timeout: float = 0.2) -> Hooks:
    pm = new_plugin_manager()
    registry = PluginRegistry(default_timeout=timeout)
    for name, plugin in plugins:
        pm.register(plugin, name=name)
        registry.add(PluginRecord(name=name, origin="test", location="test", status="loaded", hook_timeout=timeout))
    return Hooks(pm, registry)


class Facts:
    def __init__(self, answer: Any, *, delay: float = 0.0, error: Exception | None = None) -> None:
        self.answer, self.delay, self.error = answer, delay, error

    @hookimpl
    async def kefu_conversation_facts(self, conversation: Any) -> Any:
        await asyncio.sleep(self.delay)
        if self.error:
            raise self.error
        return self.answer


class SyncFacts:
    @hookimpl
    def kefu_conversation_facts(self) -> Any:
        return {"sync": True}


async def test_async_and_sync_implementations_are_collected_in_pluggy_order() -> None:
    hooks = hooks_with(("a", Facts({"a": 1})), ("b", SyncFacts()), ("c", Facts({"c": 3}, delay=0.01)))
    result = await hooks.call("kefu_conversation_facts", conversation=None, customer=None)
    # pluggy calls the last registered first
    assert result == [Contribution("c", {"c": 3}), Contribution("b", {"sync": True}), Contribution("a", {"a": 1})]


class Rendezvous:
    """Answers only once every participant has started: impossible unless they run concurrently."""

    def __init__(self, n: int, shared: dict[str, Any]) -> None:
        self.n, self.shared = n, shared

    @hookimpl
    async def kefu_conversation_facts(self) -> int:
        self.shared["started"] += 1
        if self.shared["started"] == 5:
            self.shared["all_in"].set()
        await self.shared["all_in"].wait()
        return self.n


async def test_async_implementations_run_concurrently() -> None:
    shared: dict[str, Any] = {"started": 0, "all_in": asyncio.Event()}
    hooks = hooks_with(*[(f"p{n}", Rendezvous(n, shared)) for n in range(5)], timeout=2.0)
    result = await hooks.call("kefu_conversation_facts", conversation=None, customer=None)
    assert sorted(c.value for c in result) == [0, 1, 2, 3, 4]


async def test_a_failure_and_a_timeout_are_isolated_and_counted() -> None:
    hooks = hooks_with(
        ("ok", Facts({"ok": 1})),
        ("raises", Facts(None, error=KeyError("missing"))),
        ("slow", Facts({"late": 1}, delay=5)),
    )
    result = await hooks.call("kefu_conversation_facts", conversation=None, customer=None)
    assert result == [Contribution("ok", {"ok": 1})]
    records = hooks.registry.records
    assert records["raises"].errors == {"kefu_conversation_facts": 1}
    assert records["raises"].last_error == "kefu_conversation_facts: KeyError: 'missing'"
    assert records["slow"].timeouts == {"kefu_conversation_facts": 1}
    assert records["ok"].errors == {} and records["ok"].timeouts == {}


async def test_only_calls_one_plugin() -> None:
    hooks = hooks_with(("a", Facts("a")), ("b", Facts("b")))
    assert await hooks.call("kefu_conversation_facts", only="a", conversation=None, customer=None) == [
        Contribution("a", "a")
    ]


class Prefers:
    def __init__(self, answer: str | None, error: bool = False) -> None:
        self.answer, self.error = answer, error

    @hookimpl
    def kefu_preferred_agent(self, conversation: Any, customer: Any) -> str | None:
        if self.error:
            raise RuntimeError("crm down")
        return self.answer


def test_firstresult_skips_failures_and_none() -> None:
    hooks = hooks_with(("first", Prefers("alice")), ("none", Prefers(None)), ("broken", Prefers(None, error=True)))
    assert hooks.call_first("kefu_preferred_agent", conversation=None, customer=None) == "alice"
    assert hooks.registry.records["broken"].errors == {"kefu_preferred_agent": 1}


async def test_sync_hooks_refuse_the_async_caller() -> None:
    hooks = hooks_with()
    with pytest.raises(TypeError, match="synchronous hook"):
        await hooks.call("kefu_routes")
