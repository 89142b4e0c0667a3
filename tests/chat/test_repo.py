"""Chat rows as the store keeps them: one open conversation per customer, whoever asks for it."""

from __future__ import annotations

import contextlib

from sqlalchemy import select, update

from kefu_host.chat.repo import ChatRepo
from kefu_host.customers import create_anonymous
from kefu_host.store import open_store
from kefu_host.store.models import Conversation


async def test_a_customer_with_an_open_conversation_gets_no_second_one(db_url: str) -> None:
    """Two writers on one database (two nodes): the later one, which read "none yet" before the first committed,
    is told there is one already instead of opening another; once it is closed, a new one opens."""
    async with contextlib.AsyncExitStack() as stack:
        one = await stack.enter_async_context(open_store(db_url))
        two = await stack.enter_async_context(open_store(db_url, migrate=False))
        first, second = ChatRepo(one), ChatRepo(two)
        customer = await create_anonymous(one)
        opened = await first.create_conversation(customer, "v", "support", 50)
        assert opened is not None and opened.status == "queued"
        assert await second.create_conversation(customer, "v", "support", 50) is None
        assert await first.create_conversation(await create_anonymous(one), "w", "support", 50) is not None
        await one.writer.transaction(lambda conn: conn.execute(
            update(Conversation).where(Conversation.id == opened.id).values(status="closed")))
        again = await second.create_conversation(customer, "v", "support", 50)
        assert again is not None and again.id != opened.id
        async with one.read() as conn:
            rows = (await conn.execute(select(Conversation.id, Conversation.status)
                                       .where(Conversation.customer_id == customer).order_by(Conversation.id))).all()
        assert rows == [(opened.id, "closed"), (again.id, "queued")]
