"""Rule revisions in a real database: the compare-and-set of the active pointer, files by hash, node reports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from kefu_host.routing import revisions
from kefu_host.routing.revisions import Candidate, Conflict, NodeReport, Verdict
from kefu_host.rules.loader import revision_of
from kefu_host.store import Store, open_store
from kefu_host.store.models import utcnow


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    async with open_store(db_url) as opened:
        yield opened


def candidate(text: str, author: str = "ops") -> Candidate:
    files = {"a.rule": text.encode(), "lists/words.txt": b"\xe8\xaf\x88\xe9\xaa\x97\n"}
    return Candidate(revision_of(files), files, "rules", "cli", author, "cli@test")


ACCEPTED = Verdict(True, "loaded 1 rules", 1, frozenset({"default.x"}), ("default.x",))


async def test_the_first_publish_becomes_active_and_keeps_its_files(store: Store) -> None:
    assert await revisions.active(store) is None
    first = candidate("one")
    row = await revisions.record(store, first, ACCEPTED, None)
    active = await revisions.active(store)
    assert active == row and active.status == "accepted" and active.parent is None
    assert active.files == ("a.rule", "lists/words.txt") and active.rule_ids == {"default.x"}
    assert await revisions.active_hash(store) == first.revision
    assert await revisions.files_of(store, first.revision) == dict(first.files)
    assert await revisions.known(store, first.revision) and not await revisions.known(store, "0" * 64)


async def test_a_refused_revision_is_recorded_with_its_errors_and_never_becomes_active(store: Store) -> None:
    good = candidate("good")
    await revisions.record(store, good, ACCEPTED, None)
    error = {"location": "rules/a.rule:2:8", "message": "unknown field customer.ltvv", "text": "..."}
    refused = await revisions.record(store, candidate("bad"), Verdict(False, "1 error", errors=(error,)),
                                     good.revision)
    assert refused.status == "refused" and refused.errors == (error,)
    assert await revisions.active_hash(store) == good.revision
    assert [r.status for r in await revisions.recent(store)] == ["refused", "accepted"]


async def test_a_publish_based_on_an_old_parent_conflicts_and_leaves_no_row(store: Store) -> None:
    one, two, three = candidate("one"), candidate("two"), candidate("three")
    await revisions.record(store, one, ACCEPTED, None)
    await revisions.record(store, two, ACCEPTED, one.revision)
    with pytest.raises(Conflict) as caught:
        await revisions.record(store, three, ACCEPTED, one.revision)
    assert caught.value.active is not None and caught.value.active.revision == two.revision
    assert "conflict: the active revision is now" in str(caught.value)
    assert await revisions.active_hash(store) == two.revision
    assert not await revisions.known(store, three.revision)
    assert await revisions.files_of(store, three.revision) == {}
    with pytest.raises(Conflict):  # a second "first" publish
        await revisions.record(store, three, ACCEPTED, None)


async def test_two_publishes_on_the_same_parent_from_two_processes_exactly_one_wins(db_url: str) -> None:
    async with open_store(db_url) as a, open_store(db_url) as b:
        base = candidate("base")
        await revisions.record(a, base, ACCEPTED, None)
        for attempt in range(5):
            parent = await revisions.active_hash(a)
            left, right = candidate(f"left {attempt}"), candidate(f"right {attempt}")
            results = await asyncio.gather(revisions.record(a, left, ACCEPTED, parent),
                                           revisions.record(b, right, ACCEPTED, parent), return_exceptions=True)
            won = [r for r in results if not isinstance(r, BaseException)]
            lost = [r for r in results if isinstance(r, Conflict)]
            assert len(won) == 1 and len(lost) == 1, results
            assert await revisions.active_hash(a) == won[0].revision
            assert lost[0].active is not None and lost[0].active.revision == won[0].revision


async def test_the_same_content_published_twice_shares_its_files(store: Store) -> None:
    one, two = candidate("one"), candidate("two")
    await revisions.record(store, one, ACCEPTED, None)
    await revisions.record(store, two, ACCEPTED, one.revision)
    again = await revisions.record(store, one, ACCEPTED, two.revision)  # a rollback to the first content
    assert again.revision == one.revision and await revisions.active_hash(store) == one.revision
    assert await revisions.files_of(store, one.revision) == dict(one.files)


async def test_node_reports_are_replaced_and_forgotten(store: Store) -> None:
    now = utcnow()
    await revisions.report(store, NodeReport("a:1", "r1", now, "f1", None, None))
    await revisions.report(store, NodeReport("a:1", "r2", now, "f1", "boom", now))
    await revisions.report(store, NodeReport("b:2", None, None, None, None, None))
    reports = await revisions.nodes(store)
    assert [(n.node_id, n.revision, n.last_error) for n in reports] == [("a:1", "r2", "boom"), ("b:2", None, None)]
    shown = reports[0].to_dict(stale_after=60)
    assert shown["node"] == "a:1" and shown["stale"] is False and shown["loaded_at"] == now.isoformat()
    assert reports[0].to_dict(stale_after=-1)["stale"] is True
    await revisions.forget(store, "a:1")
    assert [n.node_id for n in await revisions.nodes(store)] == ["b:2"]
