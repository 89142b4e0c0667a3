"""Publishing against a real database: validated once, refused sets recorded with their errors, the guard against
the active revision, and the compare-and-set on the parent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from kefu_host.routing import revisions
from kefu_host.routing.publisher import Published, Publisher
from kefu_host.rules import Catalogue
from kefu_host.rules.loader import Snapshot, revision_of
from kefu_host.rules.offload import RuleBuilder
from kefu_host.store import open_store
from kefu_host.store.models import RuleFile, RuleRevision
from tests.rules.conftest import TEAMS

ROUTING = (
    'group routing match first\n'
    'rule vip.ltv priority 500 in group routing when customer.ltv >= 10000 then assign_team "{team}" end\n'
    'rule default.all priority -1000 in group routing when true then assign_team "support" end\n'
)


def snapshot(files: dict[str, str]) -> Snapshot:
    data = {name: text.encode() for name, text in files.items()}
    return Snapshot(data, revision_of(data))


@pytest.fixture
async def publisher(db_url: str) -> AsyncIterator[Publisher]:
    async with open_store(db_url) as store:
        yield Publisher(store, RuleBuilder(Catalogue.core(), TEAMS), origin="test")


async def publish(publisher: Publisher, files: dict[str, str], **options: Any) -> Published:
    return await publisher.publish(snapshot(files), display_root="rules", trigger="cli", author="ops", **options)


async def test_an_accepted_set_becomes_active_and_comes_back_built(publisher: Publisher) -> None:
    published = await publish(publisher, {"a.rule": ROUTING.format(team="vip")})
    outcome = published.outcome
    assert outcome.status == "loaded" and outcome.revision_id == 1 and outcome.active == outcome.revision
    assert published.ruleset is not None and published.ruleset.revision == outcome.revision
    active = await revisions.active(publisher.store)
    assert active is not None and (active.author, active.origin, active.trigger) == ("ops", "test", "cli")
    assert active.rule_ids == {"vip.ltv", "default.all"} and active.default_rules == ("default.all",)
    again = await publish(publisher, {"a.rule": ROUTING.format(team="vip")})
    assert again.outcome.status == "unchanged" and again.record is None


async def test_a_set_that_does_not_load_is_recorded_as_refused_with_its_locations(publisher: Publisher) -> None:
    good = (await publish(publisher, {"a.rule": ROUTING.format(team="vip")})).outcome.revision
    bad = await publish(publisher, {"a.rule": ROUTING.format(team="vipp")})
    assert bad.outcome.status == "failed" and bad.ruleset is None
    assert bad.record is not None and bad.record.status == "refused" and bad.record.parent == good
    assert bad.record.errors[0]["location"] == "rules/a.rule:2:88"
    assert 'unknown team "vipp", did you mean "vip"?' in bad.record.errors[0]["message"]
    assert await revisions.active_hash(publisher.store) == good


async def test_the_guard_compares_with_the_active_revision_and_force_skips_it(publisher: Publisher) -> None:
    await publish(publisher, {"a.rule": ROUTING.format(team="vip")})
    no_default = {"a.rule": 'rule vip.ltv priority 500 when customer.ltv >= 10000 then assign_team "vip" end\n'}
    refused = await publish(publisher, no_default)
    assert refused.outcome.status == "refused" and "no default rule" in refused.outcome.message
    assert refused.record is not None and refused.record.status == "refused" and refused.record.rules == 1
    forced = await publish(publisher, no_default, force=True)
    assert forced.outcome.status == "loaded" and forced.record is not None and forced.record.forced


async def test_a_parent_that_is_not_active_is_a_conflict_before_anything_is_built(publisher: Publisher) -> None:
    first = (await publish(publisher, {"a.rule": ROUTING.format(team="vip")})).outcome.revision
    stale = await publish(publisher, {"a.rule": ROUTING.format(team="backup")}, parent="0" * 64)
    assert stale.outcome.status == "conflict" and stale.outcome.active == first and stale.record is None
    assert len(await revisions.recent(publisher.store)) == 1
    none = await publish(publisher, {"a.rule": ROUTING.format(team="backup")}, parent=None)
    assert none.outcome.status == "conflict"


async def test_of_two_publishers_racing_on_one_parent_one_wins(db_url: str) -> None:
    async with open_store(db_url) as one, open_store(db_url) as two:
        left = Publisher(one, RuleBuilder(Catalogue.core(), TEAMS), origin="left")
        right = Publisher(two, RuleBuilder(Catalogue.core(), TEAMS), origin="right")
        parent = (await publish(left, {"a.rule": ROUTING.format(team="vip")})).outcome.revision
        results = await asyncio.gather(publish(left, {"a.rule": ROUTING.format(team="backup")}, parent=parent),
                                       publish(right, {"a.rule": ROUTING.format(team="en-desk")}, parent=parent))
        statuses = sorted(r.outcome.status for r in results)
        assert statuses == ["conflict", "loaded"]
        won = next(r for r in results if r.outcome.status == "loaded")
        assert await revisions.active_hash(one) == won.outcome.revision


async def test_a_publish_keeps_the_active_revision_and_the_last_few_with_their_files(db_url: str) -> None:
    """``keep = 3``: once an accepted set is followed by four refused ones, the rows left are the active one and
    the last three; the files of the revisions pruned away are gone, the kept ones' are all there."""
    async with open_store(db_url) as store:
        publisher = Publisher(store, RuleBuilder(Catalogue.core(), TEAMS), origin="test", keep=3)
        active = (await publish(publisher, {"a.rule": ROUTING.format(team="vip")})).outcome.revision
        refused = [(await publish(publisher, {"a.rule": ROUTING.format(team=f"vipp{n}")})).outcome.revision
                   for n in range(4)]
        assert await stored(store) == ([1, 3, 4, 5], {active, *refused[1:]})

        accepted = (await publish(publisher, {"a.rule": ROUTING.format(team="backup")})).outcome.revision
        assert await revisions.active_hash(store) == accepted
        assert await stored(store) == ([4, 5, 6], {*refused[2:], accepted})
        assert await revisions.files_of(store, accepted) == {"a.rule": ROUTING.format(team="backup").encode()}
        assert await revisions.files_of(store, active) == {}
        assert not await revisions.known(store, active)  # pruned: published again, it counts as new


async def stored(store: Any) -> tuple[list[int], set[str]]:
    """The ids of the revision rows left, and the revisions the stored files belong to."""
    async with store.read() as conn:
        ids = sorted((await conn.execute(select(RuleRevision.id))).scalars())
        files = set((await conn.execute(select(RuleFile.revision))).scalars())
    return ids, files
