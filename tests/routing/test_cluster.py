"""Nodes on one database (in this process, each with its own store): publish once, every node runs the active
revision, a refused one runs nowhere, a later node takes the database's revision over its stale files."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from kefu_host.routing import revisions
from kefu_host.routing.cluster import ClusterReloader
from kefu_host.routing.notify import asyncpg_dsn
from kefu_host.rules import RuleSet, RuleSetHolder
from kefu_host.rules.loader import read_snapshot
from kefu_host.store import open_store
from tests.rules.conftest import TEAMS, tagging_rules, write

ROUTING = """\
    group routing match first
    rule vip.ltv priority 500 in group routing when customer.ltv >= 10000 then assign_team "{team}" end
    rule default.all priority -1000 in group routing when true then assign_team "support" end
    """
BROKEN = 'rule broken.x priority 1\n  when customer.ltvv > 1\n  then tag "x"\nend\n'


class Node:
    """A ClusterReloader with its own store, and an event for each swap."""

    def __init__(self, reloader: ClusterReloader) -> None:
        self.reloader = reloader
        self.holder = reloader.holder
        self.swapped = asyncio.Condition()
        reloader.on_swap = self._on_swap

    def _on_swap(self, ruleset: RuleSet) -> None:
        async def tell() -> None:
            async with self.swapped:
                self.swapped.notify_all()

        asyncio.get_running_loop().create_task(tell())

    async def runs(self, revision: str, timeout: float = 30.0) -> None:
        async with self.swapped:
            await asyncio.wait_for(self.swapped.wait_for(lambda: self.revision == revision), timeout)

    @property
    def revision(self) -> str | None:
        return self.holder.current.revision if self.holder.current else None


@pytest.fixture
async def nodes(db_url: str, tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """``await start_node(name, files, run=False)``: a node on ``db_url`` with its own rules directory."""
    stack = contextlib.AsyncExitStack()
    tasks: list[asyncio.Task[None]] = []

    async def start_node(name: str, files: dict[str, str], *, run: bool = False, **options: Any) -> Node:
        directory = tmp_path / name
        directory.mkdir()
        write(directory, files)
        store = await stack.enter_async_context(open_store(db_url))
        listen = asyncpg_dsn(db_url) if store.dialect == "postgresql" else None
        reloader = ClusterReloader(RuleSetHolder(), directory, teams=TEAMS, store=store, node_id=name,
                                   listen_dsn=listen, check_interval=options.pop("check_interval", 3600),
                                   watch=False, rescan_interval=0, **options)
        node = Node(reloader)
        await reloader.start()
        if run:
            tasks.append(asyncio.create_task(reloader.run()))
            if listen:
                await asyncio.wait_for(reloader.listening.wait(), 30)
        return node

    yield start_node
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await stack.aclose()


def files(team: str) -> dict[str, str]:
    return {"routing.rule": ROUTING.format(team=team)}


async def test_the_first_node_publishes_its_files_and_a_later_node_runs_them(nodes: Callable[..., Any]) -> None:
    a = await nodes("a", files("vip"))
    active = await revisions.active(a.reloader.store)
    assert active is not None and a.revision == active.revision and active.origin == "a"
    assert active.trigger == "startup" and active.author == "files"
    b = await nodes("b", files("vip"))
    assert b.revision == active.revision and b.holder.last_error is None
    assert len(await revisions.recent(a.reloader.store)) == 1  # b published nothing


async def test_a_later_node_with_stale_files_runs_the_active_revision_not_its_files(
    nodes: Callable[..., Any], tmp_path: Path
) -> None:
    a = await nodes("a", files("vip"))
    old = a.revision
    write(a.reloader.directory, files("backup"))
    assert (await a.reloader.reload(trigger="api")).status == "loaded"
    new = a.revision
    assert new != old
    b = await nodes("b", files("vip"))  # the directory holds the first revision, published before
    assert b.revision == new and b.reloader.files_revision == old and b.holder.last_error is None
    nodes_rows = {n.node_id: n for n in await revisions.nodes(b.reloader.store)}
    assert nodes_rows["b"].revision == new and nodes_rows["b"].files_revision == old


async def test_a_node_started_with_never_published_files_publishes_them(nodes: Callable[..., Any]) -> None:
    a = await nodes("a", files("vip"))
    b = await nodes("b", files("backup"))
    active = await revisions.active(b.reloader.store)
    assert active is not None and active.origin == "b" and b.revision == active.revision
    assert active.parent == a.revision
    assert (await a.reloader.check()) is not None and a.revision == active.revision


async def test_with_publish_files_off_a_node_only_follows(nodes: Callable[..., Any]) -> None:
    a = await nodes("a", files("vip"))
    b = await nodes("b", files("backup"), publish_files=False)
    assert b.revision == a.revision and b.holder.last_error is None
    assert [r.origin for r in await revisions.recent(a.reloader.store)] == ["a"]


async def test_a_publish_reaches_the_other_node(nodes: Callable[..., Any]) -> None:
    """On PostgreSQL by NOTIFY (the periodic check is an hour away); on SQLite by the periodic check."""
    a = await nodes("a", files("vip"), run=True)
    b = await nodes("b", files("vip"), run=True, check_interval=3600 if a.reloader.listen_dsn else 0.05)
    write(a.reloader.directory, files("backup"))
    outcome = await a.reloader.reload(trigger="api")
    assert outcome.status == "loaded" and outcome.revision is not None
    await b.runs(outcome.revision)
    reports = {n.node_id: n.revision for n in await revisions.nodes(a.reloader.store)}
    assert reports == {"a": outcome.revision, "b": outcome.revision}


async def test_a_broken_set_is_refused_everywhere_with_its_location(nodes: Callable[..., Any]) -> None:
    a = await nodes("a", files("vip"))
    b = await nodes("b", files("vip"))
    good = a.revision
    write(b.reloader.directory, {"broken.rule": BROKEN})
    outcome = await b.reloader.reload(trigger="api")
    assert outcome.status == "failed"
    assert outcome.errors[0].location == f"{b.reloader.directory}/broken.rule:2:8"
    refused = (await revisions.recent(a.reloader.store))[0]
    assert refused.status == "refused" and refused.errors[0]["location"].endswith("broken.rule:2:8")
    assert await revisions.active_hash(a.reloader.store) == good
    assert await a.reloader.check() is None and await b.reloader.check() is None
    assert a.revision == b.revision == good
    assert "customer.ltvv" in (b.holder.last_error or "")
    # the rescan does not publish it again; only a change of the files does
    assert (await b.reloader.reload(trigger="rescan")).status == "unchanged"


async def test_two_nodes_publishing_on_the_same_parent_one_wins_the_other_conflicts(
    nodes: Callable[..., Any]
) -> None:
    a = await nodes("a", files("vip"))
    b = await nodes("b", files("vip"))
    parent = a.revision
    write(a.reloader.directory, files("backup"))
    write(b.reloader.directory, files("en-desk"))
    results = await asyncio.gather(a.reloader.reload(trigger="api", parent=parent),
                                   b.reloader.reload(trigger="api", parent=parent))
    statuses = sorted(r.status for r in results)
    assert statuses == ["conflict", "loaded"], results
    won = next(r for r in results if r.status == "loaded")
    lost = next(r for r in results if r.status == "conflict")
    assert lost.active == won.revision and "conflict: the active revision is now" in lost.message
    assert await revisions.active_hash(a.reloader.store) == won.revision
    loser = b if lost is results[1] else a
    assert await loser.reloader.check() is not None and loser.revision == won.revision


async def test_the_same_change_seen_by_every_node_is_one_revision(nodes: Callable[..., Any]) -> None:
    a = await nodes("a", files("vip"))
    b = await nodes("b", files("vip"))
    parent = a.revision
    write(a.reloader.directory, files("backup"))
    write(b.reloader.directory, files("backup"))
    results = await asyncio.gather(a.reloader.reload(trigger="watch", parent=parent),
                                   b.reloader.reload(trigger="watch", parent=parent))
    assert sorted(r.status for r in results) == ["loaded", "unchanged"]
    assert a.revision == b.revision == read_snapshot(a.reloader.directory).revision
    assert [r.status for r in await revisions.recent(a.reloader.store)] == ["accepted", "accepted"]


async def test_a_node_started_with_broken_new_files_runs_the_active_revision_and_says_why(
    nodes: Callable[..., Any]
) -> None:
    a = await nodes("a", files("vip"))
    b = await nodes("b", {**files("vip"), "broken.rule": BROKEN})
    assert b.revision == a.revision
    assert b.holder.last_error is not None and "broken.rule:2:8" in b.holder.last_error
    [report] = [n for n in await revisions.nodes(a.reloader.store) if n.node_id == "b"]
    assert report.revision == a.revision and report.last_error == b.holder.last_error
    assert [r.status for r in await revisions.recent(a.reloader.store)] == ["refused", "accepted"]


async def test_a_follower_does_not_start_without_an_active_revision(nodes: Callable[..., Any]) -> None:
    b = await nodes("b", files("vip"), publish_files=False)
    assert b.holder.current is None
    assert await revisions.active_hash(b.reloader.store) is None


async def test_a_big_active_revision_is_built_in_a_worker_process_on_the_following_node(
    nodes: Callable[..., Any]
) -> None:
    """The loop must not pause while a node loads what another published: big sets build in a worker process."""
    a = await nodes("a", files("vip"))
    b = await nodes("b", files("vip"), process_bytes=1024)
    write(a.reloader.directory, {"tags.rule": tagging_rules(40)})
    assert (await a.reloader.reload(trigger="api")).status == "loaded"
    with capture_logs() as logs:
        outcome = await b.reloader.check()
    assert outcome is not None and outcome.status == "loaded" and b.revision == a.revision
    [loaded] = [line for line in logs if line["event"] == "rules_reloaded"]
    assert loaded["built_in"] == "process" and loaded["trigger"] == "check"


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # LISTEN/NOTIFY is PostgreSQL's
async def test_after_its_listening_connection_is_killed_a_node_listens_again_and_hears_the_next_publish(
    nodes: Callable[..., Any], db_url: str
) -> None:
    import asyncpg

    from kefu_host.routing.notify import asyncpg_dsn as dsn

    a = await nodes("a", files("vip"))
    b = await nodes("b", files("vip"))
    connected: asyncio.Queue[None] = asyncio.Queue()
    heard = b.reloader._listening

    def listening() -> None:
        heard()
        connected.put_nowait(None)

    b.reloader._listening = listening  # type: ignore[method-assign]
    task = asyncio.create_task(b.reloader.run())
    try:
        await asyncio.wait_for(connected.get(), 30)
        admin = await asyncpg.connect(dsn(db_url))
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query LIKE 'LISTEN%'")  # not other tests' databases
        finally:
            await admin.close()
        assert killed == 1
        await asyncio.wait_for(connected.get(), 30)  # it came back, and looked for what it missed
        write(a.reloader.directory, files("backup"))
        outcome = await a.reloader.reload(trigger="api")
        assert outcome.revision is not None
        await b.runs(outcome.revision)  # by NOTIFY: its periodic check is an hour away
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
