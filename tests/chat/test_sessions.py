"""Console sessions in the store: kept hashed, ended by sign-out, a new password, a disable, idleness and age."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from kefu_host.chat.accounts import add_agent, ensure_teams, set_agent
from kefu_host.chat.passwords import hash_password
from kefu_host.chat.sessions import SessionStore, csrf_matches, csrf_token, session_id
from kefu_host.store import Store, open_store
from kefu_host.store.models import LoginSession

IDLE, LIFETIME = 600.0, 3600.0


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    async with open_store(db_url) as store:
        await ensure_teams(store, ["support"])
        await add_agent(store, "alice", ["support"], 3, password_hash=hash_password("alice's password"))
        await add_agent(store, "bob", ["support"], 3, password_hash=hash_password("bob's password"))
        yield store


async def rows(store: Store) -> list[LoginSession]:
    async with store.read() as conn:
        return list((await conn.execute(select(LoginSession))).all())  # type: ignore[arg-type]


async def test_the_table_keeps_only_a_hash_of_the_cookie_secret(store: Store) -> None:
    sessions = SessionStore(store, IDLE, LIFETIME)
    new = await sessions.create(1)
    assert len(new.secret) >= 43  # 256 random bits
    [row] = await rows(store)
    assert row.id == session_id(new.secret) != new.secret
    assert new.secret not in repr(row) and new.secret not in repr(new)
    assert (await sessions.find(new.secret)) == new.record
    assert await sessions.find(new.secret + "x") is None


async def test_the_csrf_token_names_one_session_and_is_not_its_secret(store: Store) -> None:
    sessions = SessionStore(store, IDLE, LIFETIME)
    one, two = await sessions.create(1), await sessions.create(1)
    assert csrf_token(one.secret) == csrf_token(one.secret) != csrf_token(two.secret)
    assert one.secret not in csrf_token(one.secret)
    assert csrf_matches(one.secret, csrf_token(one.secret))
    assert not csrf_matches(one.secret, csrf_token(two.secret))
    assert not csrf_matches(one.secret, None) and not csrf_matches(one.secret, "")


async def test_a_session_unused_for_the_idle_timeout_ends_and_use_keeps_it(store: Store) -> None:
    clock = Clock()
    sessions = SessionStore(store, IDLE, LIFETIME, clock=clock)
    new = await sessions.create(1)
    clock.advance(IDLE - 1)
    found = await sessions.find(new.secret)
    assert found is not None and sessions.stale(found)
    await sessions.touch([found.id])  # used now: the idle timeout counts from here
    clock.advance(IDLE - 1)
    assert await sessions.find(new.secret) is not None
    clock.advance(1)
    assert await sessions.find(new.secret) is None


async def test_a_session_ends_at_its_lifetime_however_much_it_is_used(store: Store) -> None:
    clock = Clock()
    sessions = SessionStore(store, IDLE, LIFETIME, clock=clock)
    new = await sessions.create(1)
    for _ in range(int(LIFETIME // (IDLE / 2))):
        clock.advance(IDLE / 2)
        found = await sessions.find(new.secret)
        if found is None:
            break
        await sessions.touch([found.id])
    assert clock.now - new.record.created_at == timedelta(seconds=LIFETIME)
    assert await sessions.find(new.secret) is None
    assert sessions.expires_at(new.record) == new.record.created_at + timedelta(seconds=IDLE)


async def test_sign_out_ends_one_session(store: Store) -> None:
    sessions = SessionStore(store, IDLE, LIFETIME)
    one, two = await sessions.create(1), await sessions.create(1)
    await sessions.revoke(one.record.id)
    assert await sessions.find(one.secret) is None
    assert await sessions.find(two.secret) is not None


@pytest.mark.parametrize("change", ["password", "disable"])
async def test_a_new_password_or_a_disable_ends_every_session_of_the_agent(store: Store, change: str) -> None:
    sessions = SessionStore(store, IDLE, LIFETIME)
    alice = [await sessions.create(1), await sessions.create(1)]
    bob = await sessions.create(2)
    if change == "password":
        await set_agent(store, "alice", password_hash=hash_password("a new password"))
    else:
        await set_agent(store, "alice", disabled=True)
    assert [await sessions.find(s.secret) for s in alice] == [None, None]
    assert await sessions.find(bob.secret) is not None
    await set_agent(store, "bob", capacity=5, is_admin=True)  # other changes end nothing
    assert await sessions.find(bob.secret) is not None


async def test_signing_in_clears_the_agents_expired_sessions(store: Store) -> None:
    clock = Clock()
    sessions = SessionStore(store, IDLE, LIFETIME, clock=clock)
    old, kept = await sessions.create(1), await sessions.create(2)
    clock.advance(IDLE)
    new = await sessions.create(1)
    assert sorted(r.id for r in await rows(store)) == sorted([new.record.id, kept.record.id])
    assert old.record.id != new.record.id
