"""Building rule sets off the event loop: big snapshots in a worker process, small ones in a thread."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import textwrap
import threading
from typing import Any

import pytest

from kefu_host.rules import Catalogue, FieldSpec, FieldType, RuleSetError
from kefu_host.rules import offload
from kefu_host.rules.offload import PROCESS_BYTES, RuleBuilder
from tests.rules.conftest import TEAMS, tagging_rules

FILES = {
    "routing.rule": textwrap.dedent("""\
        group routing match first
        list sensitive = file("lists/sensitive.txt")
        rule risk.words priority 900 in group routing
          when message.text contains_any $sensitive or message.text matches "(a+)+$"
          then transfer "risk-control"
        end
        rule vip.ltv priority 500 in group routing when customer.ltv >= 10000 then assign_team "vip" end
        rule default.general priority -1000 in group routing when true then assign_team "support" end
        test "vip" given customer.ltv = 20000 expect assign_team "vip" end
        """).encode(),
    "lists/sensitive.txt": "诈骗\nscam\n".encode(),
}


def large(rules: int) -> dict[str, bytes]:
    return {**FILES, "gen.rule": tagging_rules(rules).encode()}


async def test_a_snapshot_over_the_threshold_is_built_in_another_process() -> None:
    built = await RuleBuilder(Catalogue.core(), TEAMS, process_bytes=0).build(FILES, display_root="rules")
    assert built.where == "process" and built.pid != os.getpid()
    ruleset = built.ruleset
    assert ruleset.decide({"message.text": "你们诈骗"}).team == "risk-control"
    assert ruleset.decide({"message.text": "a" * 24 + "!", "customer.ltv": 20000}).team == "vip"
    assert [test.name for test in ruleset.tests] == ["vip"] == list(ruleset.test_names)
    explained = ruleset.explain({"customer.ltv": 20000})
    assert [(rule.rule_id, rule.status) for rule in explained.rules] == [
        ("risk.words", "not matched"), ("vip.ltv", "fired"), ("default.general", "skipped")
    ]
    assert ruleset.rules[0].location == "rules/routing.rule:3:1"


async def test_the_default_threshold_sends_a_set_of_350_rules_to_a_process() -> None:
    files = large(350)
    assert sum(map(len, files.values())) >= PROCESS_BYTES
    built = await RuleBuilder(Catalogue.core(), TEAMS).build(files)
    assert built.where == "process"
    assert built.ruleset.decide({"message.text": "about x349y"}).tags == ("t349",)


async def test_a_small_snapshot_is_built_in_a_thread_not_on_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[int] = []
    real = offload.build_ruleset

    def recording(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(offload, "build_ruleset", recording)
    built = await RuleBuilder(Catalogue.core(), TEAMS).build(FILES)
    assert built.where == "thread" and built.pid == os.getpid()
    assert len(threads) == 1 and threads[0] != threading.get_ident()
    assert built.ruleset.decide({"customer.ltv": 20000}).team == "vip"


async def test_errors_found_in_the_worker_come_back_located() -> None:
    files = {**FILES, "bad.rule": b'rule bad when customer.ltvv > 1 then tag "x" end\n'}
    with pytest.raises(RuleSetError) as caught:
        await RuleBuilder(Catalogue.core(), TEAMS, process_bytes=0).build(files, display_root="rules")
    assert [e.headline() for e in caught.value.errors] == [
        "rules/bad.rule:1:15: unknown field customer.ltvv, did you mean customer.ltv?"
    ]


async def test_plugin_fields_and_actions_reach_the_worker() -> None:
    class PluginField(FieldSpec):  # a plugin's own subclass: its module is not importable in the worker
        pass

    catalogue = Catalogue.core().extended(fields=[PluginField("ticket.open_count", FieldType.NUMBER, "")])
    files = {"a.rule": b'rule t when ticket.open_count > 2 then tag "busy" end\n'}
    built = await RuleBuilder(catalogue, TEAMS, process_bytes=0).build(files)
    assert built.where == "process"
    assert built.ruleset.decide({"ticket.open_count": 3}).tags == ("busy",)


async def test_a_cancelled_build_ends_its_worker_process() -> None:
    task = asyncio.create_task(RuleBuilder(Catalogue.core(), TEAMS, process_bytes=0).build(large(400)))
    for _ in range(1000):  # until the worker exists (a state, checked every 10 ms; at most 10 s)
        if multiprocessing.active_children() or task.done():
            break
        await asyncio.sleep(0.01)
    assert not task.done(), "the build ended before it could be cancelled"
    worker = multiprocessing.active_children()[0]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(1000):  # the build thread terminates and reaps it
        if worker.exitcode is not None:
            break
        await asyncio.sleep(0.01)
    assert worker.exitcode is not None, "the worker outlived its cancelled build"
