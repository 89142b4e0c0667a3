"""The hot write path stores messages exactly as the portable path would, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from sqlalchemy import select, text

from kefu_host.chat.accounts import add_agent, ensure_teams
from kefu_host.chat.append import Appended, ConversationClosed, NewMessage, NotHeld, UnknownConversation
from kefu_host.chat.repo import ChatRepo
from kefu_host.customers import create_anonymous
from kefu_host.store import Store, open_store
from kefu_host.store.models import Conversation, Message
from tests.store.locks import holding_writes, until


async def test_batches_number_messages_without_gaps_and_deduplicate(db_url: str) -> None:
    published = []
    async with open_store(db_url) as store:
        repo = ChatRepo(store, on_stored=lambda message, origin: published.append(message))
        convs = [await repo.create_conversation(await create_anonymous(store), f"v{n}", "support", 50) for n in range(3)]

        def msg(c: int, cmid: str | None, body: str = "hi") -> NewMessage:
            return NewMessage(convs[c].id, "visitor", "v", cmid, body)

        first = await asyncio.gather(*(repo.append(msg(n % 3, f"a{n}")) for n in range(30)))
        # one batch holding a repeat of a stored id, a repeat within the batch, no id, and an unknown conversation
        second = await asyncio.gather(
            repo.append(msg(0, "a0")),
            repo.append(msg(1, "fresh")),
            repo.append(msg(1, "fresh")),
            repo.append(msg(2, None, "no id")),
            repo.append(NewMessage(999_999, "visitor", "v", "x", "lost")),
            return_exceptions=True,
        )
        assert all(isinstance(a, Appended) and not a.duplicate for a in first)
        assert second[0].duplicate and second[0].message == first[0].message
        assert not second[1].duplicate and second[2].duplicate and second[2].message == second[1].message
        assert not second[3].duplicate and second[3].message.client_msg_id is None
        assert isinstance(second[4], UnknownConversation)

        async with store.read() as conn:
            rows = (await conn.execute(select(Message).order_by(Message.id))).all()
            last = dict((await conn.execute(select(Conversation.id, Conversation.last_seq))).all())
        for conv in convs:
            seqs = [r.seq for r in rows if r.conversation_id == conv.id]
            assert seqs == list(range(1, len(seqs) + 1)) and last[conv.id] == len(seqs)
        stored = {r.id: (r.conversation_id, r.seq, r.client_msg_id, r.body, r.created_at) for r in rows}
        for a in [*first, second[1], second[3]]:
            m = a.message
            assert stored[m.id] == (m.conversation_id, m.seq, m.client_msg_id, m.body, m.created_at)
        assert [m.id for m in published] == sorted(stored)  # every new message published once, in commit order


@pytest.mark.parametrize("count", [1, 200])
async def test_a_resend_after_a_restart_is_still_a_duplicate(db_url: str, count: int) -> None:
    async with open_store(db_url) as store:
        repo = ChatRepo(store, on_stored=lambda m, o: None)
        conv = await repo.create_conversation(await create_anonymous(store), "v", "support", 50)
        originals = await asyncio.gather(*(repo.append(NewMessage(conv.id, "agent", "a", f"k{n}", "x"))
                                           for n in range(count)))
    async with open_store(db_url) as store:
        repo = ChatRepo(store, on_stored=lambda m, o: None)
        again = await asyncio.gather(*(repo.append(NewMessage(conv.id, "agent", "a", f"k{n}", "x"))
                                       for n in range(count)))
    assert all(a.duplicate for a in again)
    assert [a.message for a in again] == [o.message for o in originals]


async def wait_for_backends(store: Store, *wait_events: str) -> None:
    """Until a session of this database waits for a lock of one of these kinds (PostgreSQL's ``wait_event``)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND wait_event = ANY(:kinds)"
    )
    async with asyncio.timeout(10):
        while True:
            async with store.read() as conn:
                if (await conn.execute(query, {"kinds": list(wait_events)})).scalar_one() >= 1:
                    return
            await asyncio.sleep(0.01)


async def test_a_resend_racing_its_original_on_another_host_gets_the_stored_message(pg_url: str) -> None:
    """Two hosts on one PostgreSQL: the loser of the race is answered as a duplicate, not with a unique violation.

    Deterministic: a trigger holds the first host's transaction open after its insert (on an advisory lock the
    test holds) until the second host's batch is waiting too; then both go on.
    """
    async with contextlib.AsyncExitStack() as stack:
        one = await stack.enter_async_context(open_store(pg_url))
        two = await stack.enter_async_context(open_store(pg_url, migrate=False))
        first, second = ChatRepo(one, on_stored=lambda m, o: None), ChatRepo(two, on_stored=lambda m, o: None)
        conv = await first.create_conversation(await create_anonymous(one), "v", "support", 50)
        async with one.engines.write.begin() as conn:
            await conn.execute(text(
                "CREATE FUNCTION hold_after_insert() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN PERFORM pg_advisory_xact_lock_shared(4242); RETURN NEW; END $$"
            ))
            await conn.execute(text(
                "CREATE TRIGGER hold AFTER INSERT ON messages FOR EACH ROW EXECUTE FUNCTION hold_after_insert()"
            ))
        gate = await stack.enter_async_context(one.engines.read.connect())
        await gate.execute(text("SELECT pg_advisory_lock(4242)"))  # session level, not bound to a transaction
        await gate.commit()

        send = NewMessage(conv.id, "visitor", "v", "same-id", "hello")
        original = asyncio.create_task(first.append(send))
        await wait_for_backends(one, "advisory")  # inserted, not committed: the conversation row is locked
        resend = asyncio.create_task(second.append(send))
        await wait_for_backends(one, "transactionid", "tuple")  # the second host's batch waits for the first
        await gate.execute(text("SELECT pg_advisory_unlock(4242)"))
        await gate.commit()

        stored, again = await original, await resend
        assert not stored.duplicate and again == Appended(stored.message, duplicate=True)
        assert two.writer.stats.conflicts == 1  # its statement met the unique key; run again, it found the message
        async with one.read() as conn:
            rows = (await conn.execute(select(Message.seq).where(Message.conversation_id == conv.id))).all()
        assert rows == [(1,)]


async def test_a_resend_from_a_second_writer_on_the_same_sqlite_file_gets_the_stored_message(tmp_path: Path) -> None:
    """SQLite writers take the write lock before they look (BEGIN IMMEDIATE), so the second one sees the first's."""
    url = f"sqlite+aiosqlite:///{tmp_path}/store.db"
    async with contextlib.AsyncExitStack() as stack:
        one = await stack.enter_async_context(open_store(url))
        two = await stack.enter_async_context(open_store(url, migrate=False))
        first, second = ChatRepo(one, on_stored=lambda m, o: None), ChatRepo(two, on_stored=lambda m, o: None)
        conv = await first.create_conversation(await create_anonymous(one), "v", "support", 50)
        sends = [NewMessage(conv.id, "visitor", "v", f"k{n}", "hello") for n in range(50)]
        a, b = await asyncio.gather(
            asyncio.gather(*(first.append(s) for s in sends)), asyncio.gather(*(second.append(s) for s in sends))
        )
    for x, y in zip(a, b, strict=True):
        assert x.message == y.message and sorted([x.duplicate, y.duplicate]) == [False, True]
    assert sorted(x.message.seq for x in a) == list(range(1, 51))


async def test_two_writers_on_postgresql_number_several_conversations_without_gaps(pg_url: str) -> None:
    """Two hosts on one database send to the same five conversations at once, each batch spanning them in another
    order, and resend each other's ``client_msg_id``s: every id is stored once, both answers name the stored
    message, and each conversation's seqs are 1..n with ``last_seq`` = n (locks in id order: no deadlock)."""
    async with contextlib.AsyncExitStack() as stack:
        one = await stack.enter_async_context(open_store(pg_url))
        two = await stack.enter_async_context(open_store(pg_url, migrate=False))
        first, second = ChatRepo(one, on_stored=lambda m, o: None), ChatRepo(two, on_stored=lambda m, o: None)
        convs = [await first.create_conversation(await create_anonymous(one), f"v{n}", "support", 50) for n in range(5)]
        sends = [NewMessage(convs[n % 5].id, "visitor", "v", f"k{n}", f"body {n}") for n in range(300)]
        a, b = await asyncio.gather(
            asyncio.gather(*(first.append(s) for s in sends)),
            asyncio.gather(*(second.append(s) for s in reversed(sends))),
        )
        async with one.read() as conn:
            rows = (await conn.execute(select(Message.conversation_id, Message.seq, Message.client_msg_id, Message.id))
                    ).all()
            last = dict((await conn.execute(select(Conversation.id, Conversation.last_seq))).all())
    for x, y in zip(a, reversed(b), strict=True):
        assert x.message == y.message and sorted([x.duplicate, y.duplicate]) == [False, True]
    assert sorted(r.client_msg_id for r in rows) == sorted(s.client_msg_id for s in sends)
    stored = {r.client_msg_id: (r.id, r.seq) for r in rows}
    assert all(stored[x.message.client_msg_id] == (x.message.id, x.message.seq) for x in a)
    for conv in convs:
        seqs = sorted(r.seq for r in rows if r.conversation_id == conv.id)
        assert seqs == list(range(1, 61)) and last[conv.id] == 60


async def test_messages_in_one_batch_with_other_writes_are_stored_alike(db_url: str) -> None:
    """A batch that also holds other writes runs in SQLAlchemy's transaction (on PostgreSQL the same statement
    through it): messages are numbered, duplicates answered and the other writes committed with them."""
    async with open_store(db_url, sqlite_busy_timeout=120) as store:
        repo = ChatRepo(store, on_stored=lambda m, o: None)
        conv = await repo.create_conversation(await create_anonymous(store), "v", "support", 50)
        first = await repo.append(NewMessage(conv.id, "visitor", "v", "k0", "first"))
        async with holding_writes(db_url, "messages", "customers"):
            blocker = asyncio.create_task(repo.append(NewMessage(conv.id, "visitor", "v", "k1", "blocked")))
            await until(lambda: store.writer.in_flight() == 1)
            sends = [asyncio.create_task(repo.append(NewMessage(conv.id, "visitor", "v", f"k{n % 4}", f"m{n}")))
                     for n in range(2, 8)]
            other = asyncio.create_task(create_anonymous(store))
            await until(lambda: store.writer.pending() == 7)
            batches = store.writer.stats.batches
        results = [await t for t in (blocker, *sends)]
        customer_id = await other
        assert store.writer.stats.batches == batches + 2  # the blocked one, then the seven together
    assert [(r.message.client_msg_id, r.message.seq, r.duplicate) for r in results] == [
        ("k1", 2, False), ("k2", 3, False), ("k3", 4, False), ("k0", 1, True), ("k1", 2, True), ("k2", 3, True),
        ("k3", 4, True),
    ]
    assert results[3].message == first.message and customer_id > 0


async def test_a_message_sent_if_open_is_refused_by_a_closed_conversation_and_stores_nothing(db_url: str) -> None:
    """Several nodes send a visitor's message ``if_open`` to the conversation they last knew: the append checks the
    status under the row lock, and on PostgreSQL hands back the row as the message left it."""
    async with open_store(db_url) as store:
        repo = ChatRepo(store)
        customer = await create_anonymous(store)
        open_one = await repo.create_conversation(customer, "v1", "support", 50)
        closed = await repo.create_conversation(await create_anonymous(store), "v2", "vip", 50)
        await repo.append(NewMessage(closed.id, "visitor", "v2", "c0", "before the close"))
        assert await repo.update_conversation(closed.id, status="closed")
        await repo.update_conversation(open_one.id, status="assigned", tags=["vip"])

        outcomes = await asyncio.gather(
            repo.append(NewMessage(open_one.id, "visitor", "v1", "o1", "hello", if_open=True)),
            repo.append(NewMessage(closed.id, "visitor", "v2", "c1", "anyone?", if_open=True)),
            repo.append(NewMessage(closed.id, "visitor", "v2", "c0", "before the close", if_open=True)),
            repo.append(NewMessage(closed.id, "system", None, None, "closed, but written", if_open=False)),
            return_exceptions=True,
        )
        stored, refused, resent, system = outcomes
        assert isinstance(stored, Appended) and not stored.duplicate and stored.message.seq == 1
        assert isinstance(refused, ConversationClosed)
        assert isinstance(resent, Appended) and resent.duplicate  # stored before the close: still answered
        assert isinstance(system, Appended) and system.message.seq == 2
        if store.dialect == "postgresql":
            row = stored.conversation
            assert row is not None and (row.id, row.customer_id, row.status, row.team, row.last_seq, row.tags) == (
                open_one.id, customer, "assigned", "support", 1, ("vip",))
        else:
            assert stored.conversation is None
        async with store.read() as conn:
            bodies = (await conn.execute(select(Message.body).where(Message.conversation_id == closed.id)
                                         .order_by(Message.seq))).scalars().all()
            last = (await conn.execute(select(Conversation.last_seq).where(Conversation.id == closed.id))).scalar()
        assert bodies == ["before the close", "closed, but written"] and last == 2


async def test_a_message_sent_if_held_by_an_agent_is_stored_only_while_that_agent_holds_the_conversation(
    db_url: str,
) -> None:
    async with open_store(db_url) as store:
        repo = ChatRepo(store)
        await ensure_teams(store, ["support"])
        for name in ("ann", "bob"):
            await add_agent(store, name, ["support"], 2)
        async with store.read() as conn:
            ids = dict((await conn.execute(text("SELECT name, id FROM agents"))).all())
        held = await repo.create_conversation(await create_anonymous(store), "v1", "support", 50)
        queued = await repo.create_conversation(await create_anonymous(store), "v2", "support", 50)
        await repo.update_conversation(held.id, status="assigned", agent_id=ids["ann"])

        outcomes = await asyncio.gather(
            repo.append(NewMessage(held.id, "agent", "ann", "a1", "hello", if_held_by=ids["ann"])),
            repo.append(NewMessage(held.id, "agent", "bob", "b1", "not mine", if_held_by=ids["bob"])),
            repo.append(NewMessage(queued.id, "agent", "ann", "a2", "nobody's yet", if_held_by=ids["ann"])),
            return_exceptions=True,
        )
        mine, not_bobs, not_yet = outcomes
        assert isinstance(mine, Appended) and mine.message.seq == 1
        assert isinstance(not_bobs, NotHeld) and isinstance(not_yet, NotHeld)
        if store.dialect == "postgresql":
            assert mine.conversation is not None and mine.conversation.agent_id == ids["ann"]
        async with store.read() as conn:
            count = (await conn.execute(text("SELECT count(*) FROM messages"))).scalar()
        assert count == 1
