"""The hot write path stores messages exactly as the portable path would, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from kefu_host.chat.append import Appended, NewMessage, UnknownConversation
from kefu_host.chat.repo import ChatRepo
from kefu_host.customers import create_anonymous
from kefu_host.store import open_store
from kefu_host.store.models import Conversation, Message


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
