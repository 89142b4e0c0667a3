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


# --- through pluggy -------------------------------------------------------------------------------------------


async def test_hookcall_monitoring_sees_every_call_of_an_async_hook() -> None:
    hooks = hooks_with(("a", Facts({"a": 1})), ("b", SyncFacts()), ("raises", Facts(None, error=KeyError("x"))))
    seen: list[tuple[str, list[str], dict[str, Any]]] = []
    outcomes: list[Any] = []

    def before(name: str, impls: list[Any], kwargs: dict[str, Any]) -> None:
        seen.append((name, [i.plugin_name for i in impls], dict(kwargs)))

    def after(outcome: Any, name: str, impls: list[Any], kwargs: dict[str, Any]) -> None:
        outcomes.append(outcome.get_result())

    undo = hooks.pm.add_hookcall_monitoring(before, after)
    try:
        result = await hooks.call("kefu_conversation_facts", conversation="c1", customer=None)
        await hooks.call("kefu_conversation_facts", conversation="c2", customer=None)
    finally:
        undo()
    assert [(name, plugins, kwargs["conversation"]) for name, plugins, kwargs in seen] == [
        ("kefu_conversation_facts", ["a", "b", "raises"], "c1"),
        ("kefu_conversation_facts", ["a", "b", "raises"], "c2"),
    ]
    # pluggy's result holds the async answers unawaited, tagged with their plugin; the caller gets them awaited
    assert [type(r).__name__ for r in outcomes[0]] == ["Pending", "Contribution", "Pending"]
    assert [r.plugin for r in outcomes[0]] == ["raises", "b", "a"]
    assert result == [Contribution("b", {"sync": True}), Contribution("a", {"a": 1})]
    assert hooks.registry.records["raises"].errors == {"kefu_conversation_facts": 2}


async def test_pluggy_tracing_sees_the_calls() -> None:
    hooks = hooks_with(("a", Facts({"a": 1})))
    lines: list[str] = []
    hooks.pm.trace.root.setwriter(lines.append)
    undo = hooks.pm.enable_tracing()
    try:
        await hooks.call("kefu_conversation_facts", conversation=None, customer=None)
    finally:
        undo()
    assert any("kefu_conversation_facts" in line for line in lines)


async def test_calls_failures_timeouts_and_durations_are_counted_per_hook() -> None:
    hooks = hooks_with(("ok", Facts({"ok": 1})), ("raises", Facts(None, error=ValueError("no"))),
                       ("slow", Facts({"late": 1}, delay=5)), timeout=0.05)
    for _ in range(3):
        await hooks.call("kefu_conversation_facts", conversation=None, customer=None)
    stats = {name: hooks.registry.records[name].to_dict()["hook_stats"]["kefu_conversation_facts"]
             for name in ("ok", "raises", "slow")}
    assert (stats["ok"]["calls"], stats["ok"]["failures"], stats["ok"]["timeouts"]) == (3, 0, 0)
    assert (stats["raises"]["calls"], stats["raises"]["failures"]) == (3, 3)
    assert (stats["slow"]["calls"], stats["slow"]["timeouts"]) == (3, 3)
    assert stats["ok"]["p50_ms"] is not None and stats["ok"]["p99_ms"] >= stats["ok"]["p50_ms"]
    assert stats["slow"]["p50_ms"] >= 50  # a timed-out call took at least its timeout
    assert hooks.registry.records["ok"].to_dict()["calls"] == 3


async def test_a_disabled_plugin_is_not_called_until_enabled_again() -> None:
    hooks = hooks_with(("a", Facts("a")), ("b", Facts("b")))
    hooks.registry.records["b"].status = "disabled"
    hooks.refresh()
    assert await hooks.call("kefu_conversation_facts", conversation=None, customer=None) == [Contribution("a", "a")]
    assert await hooks.call("kefu_conversation_facts", conversation=None, customer=None, everyone=True) == [
        Contribution("b", "b"), Contribution("a", "a")
    ]
    hooks.registry.records["b"].status = "loaded"
    hooks.refresh()
    assert len(await hooks.call("kefu_conversation_facts", conversation=None, customer=None)) == 2


class HostTaker:
    @hookimpl
    async def kefu_conversation_closed(self, closed_by: str, host: Any) -> Any:
        return (closed_by, host)


class Provider:
    def for_plugin(self, name: str) -> str:
        return f"host of {name}"


async def test_each_plugin_gets_its_own_host() -> None:
    hooks = hooks_with(("one", HostTaker()), ("two", HostTaker()))
    hooks.host = Provider()
    result = await hooks.call("kefu_conversation_closed", conversation=None, closed_by="agent")
    assert result == [Contribution("two", ("agent", "host of two")), Contribution("one", ("agent", "host of one"))]


class Fields:
    def __init__(self, answer: Any) -> None:
        self.answer = answer

    @hookimpl
    def kefu_rule_fields(self) -> Any:
        return self.answer


def test_collect_checks_each_item_and_keeps_the_rest() -> None:
    from kefu_host.rules.schema import FieldSpec, FieldType

    good, taken = FieldSpec("a.one", FieldType.NUMBER, ""), FieldSpec("a.two", FieldType.NUMBER, "")
    hooks = hooks_with(("a", Fields([good, "not a spec", taken])), ("b", Fields("a string")),
                       ("c", Fields([FieldSpec("a.two", FieldType.NUMBER, "")])))
    names: set[str] = set()

    def validate(spec: FieldSpec, plugin: str) -> None:
        if spec.name in names:
            raise ValueError(f"{spec.name} is already defined")
        names.add(spec.name)

    got = hooks.collect("kefu_rule_fields", FieldSpec, validate)
    assert got == [("c", FieldSpec("a.two", FieldType.NUMBER, "")), ("a", good)]
    records = hooks.registry.records
    assert records["a"].errors == {"kefu_rule_fields": 2}  # the str, and a.two taken by c (registered last, so first)
    assert records["a"].last_error == "kefu_rule_fields: ValueError: a.two is already defined"
    assert records["b"].last_error == "kefu_rule_fields: TypeError: expected a sequence of FieldSpec, got str"


class Wrapper:
    @hookimpl(wrapper=True)
    def kefu_conversation_closed(self) -> Any:
        return (yield)


def test_wrappers_are_refused_clearly(tmp_path: Any) -> None:  # a plain test: it runs its own loop below
    from kefu_host.config import load_config
    from kefu_host.plugins import PluginSource, load_plugins

    (tmp_path / "wrap.py").write_text(
        "from kefu_host.sdk import hookimpl\n@hookimpl(wrapper=True)\ndef kefu_conversation_closed():\n"
        "    return (yield)\n"
    )
    pm = new_plugin_manager()
    registry = load_plugins(pm, load_config(None, environ={}),
                            [PluginSource("wrap", "command line", str(tmp_path / "wrap.py"))])
    assert registry.records["wrap"].status == "failed"
    assert "kefu_conversation_closed: hook wrappers (wrapper=True, hookwrapper=True) are refused" in (
        registry.records["wrap"].reason or "")
    # registered behind the loader's back, the hook caller refuses it as clearly
    hooks = hooks_with(("w", Wrapper()))
    with pytest.raises(TypeError, match=r"w: kefu_conversation_closed: hook wrappers .* are refused"):
        asyncio.run(hooks.call("kefu_conversation_closed", conversation=None, closed_by="agent"))
