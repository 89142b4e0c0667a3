"""Editing the rules while the host routes: no failed request, every decision from exactly one revision, and each
written revision becomes active (how fast is a benchmark's business: benchmarks/bench_rules_reload.py)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kefu_host.keys import CHAT
from kefu_host.rules import offload
from tests.conftest import admin_headers
from tests.rules.conftest import tagging_rules

RULES = """
group routing match first
rule default.route priority -1000 in group routing
  desc "{team}"
  when true
  then assign_team "{team}"
end
"""


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


async def test_rules_rewritten_under_load(
    start_host: Callable[..., Any], write_rules: Callable[..., Path], rules_dir: Path
) -> None:
    path = write_rules(RULES.format(team="support"))
    host = await start_host()
    revision_of: dict[str, str] = {}

    async def active_revision() -> str:
        body = await (await host.client.get("/api/rules", headers=admin_headers())).json()
        return str(body["revision"])

    revision_of[await active_revision()] = "support"
    results: list[tuple[int, str | None, str | None]] = []
    conversations: list[int] = []
    stop = asyncio.Event()
    progress = asyncio.Condition()

    async def record(into: list[Any], item: Any) -> None:
        async with progress:
            into.append(item)
            progress.notify_all()

    async def traffic(decisions: int, opened: int) -> None:
        """Wait until this many more decisions were explained and conversations opened."""
        want = (len(results) + decisions, len(conversations) + opened)
        async with progress:
            await asyncio.wait_for(
                progress.wait_for(lambda: len(results) >= want[0] and len(conversations) >= want[1]), 60
            )

    async def explainer() -> None:
        while not stop.is_set():
            response = await host.client.post("/api/rules/explain", headers=admin_headers(),
                                              json={"facts": {"message": {"text": "hi"}}})
            body = await response.json()
            await record(results, (response.status, body.get("revision"), body.get("decision", {}).get("team")))

    async def visitors() -> None:
        while not stop.is_set():
            visitor = await host.visitor()
            ack = await visitor.say("hello")
            await record(conversations, ack["conversation_id"])
            await visitor.close()

    workers = [asyncio.create_task(explainer()) for _ in range(3)] + [asyncio.create_task(visitors()) for _ in range(4)]
    try:
        for team, write in (("backup", write_atomically), ("vip", Path.write_text), ("support", write_atomically)):
            await traffic(decisions=20, opened=2)  # routing under the revision now active
            old = await active_revision()
            write(path, RULES.format(team=team))
            async with asyncio.timeout(30):  # a guard against a reload that never happens, not a speed test
                while (new := await active_revision()) == old:
                    await asyncio.sleep(0.02)
            revision_of[new] = team
        await traffic(decisions=20, opened=2)
    finally:
        stop.set()
        await asyncio.gather(*workers)

    assert len(results) > 50 and len(conversations) > 5
    assert all(status == 200 for status, _, _ in results), "a routing request failed during reload"
    for _, revision, team in results:
        assert revision in revision_of, "a decision named a revision that was never active"
        assert team == revision_of[revision], "a decision mixed two revisions"
    assert len({revision for _, revision, _ in results}) >= 3  # requests ran across the swaps

    repo = host.app[CHAT].service.repo
    routed_by = set()
    for cid in conversations:
        opened = (await repo.decisions(cid))[-1]
        assert opened["trigger"] == "open"
        assert opened["team"] == revision_of[opened["revision"]]
        routed_by.add(opened["revision"])
    assert len(routed_by) >= 2  # real conversations were routed by more than one revision


async def test_chat_is_answered_while_a_big_set_builds_in_the_worker(
    start_host: Callable[..., Any], write_rules: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The worker's build is held open until the chat round trip is done: the order is the test, not a clock.
    building, release = threading.Event(), threading.Event()
    real_run = offload._run

    def held(*args: Any) -> Any:
        building.set()
        release.wait(60)
        return real_run(*args)

    monkeypatch.setattr(offload, "_run", held)
    write_rules(RULES.format(team="support"))
    host = await start_host(environ={"KEFU_RULES__WATCH": "false", "KEFU_RULES__RESCAN_INTERVAL": "0"})
    agent = await host.agent(await host.add_agent("ann", ("support",)))
    write_rules(tagging_rules(350), name="generated.rule")
    reload = asyncio.create_task(host.client.post("/api/rules/reload", headers=admin_headers()))
    try:
        assert await asyncio.to_thread(building.wait, 30), "the reload never reached the worker"
        visitor = await host.visitor()
        ack = await visitor.say("hello, is anyone there?")
        assigned = await agent.expect("assigned")  # routed by the rules still active, and pushed to the agent
        assert assigned["conversation"]["id"] == ack["conversation_id"]
        assert [m["body"] for m in assigned["messages"]] == ["hello, is anyone there?"]
        assert not reload.done()
    finally:
        release.set()
    response = await reload
    assert response.status == 200 and (await response.json())["status"] == "loaded"
    status = await (await host.client.get("/api/rules", headers=admin_headers())).json()
    assert status["rules"] == 351
