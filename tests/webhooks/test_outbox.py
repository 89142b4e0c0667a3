"""The outbox: a chat change and its webhook deliveries are stored in one transaction, or neither is."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from kefu_host.chat.append import NewMessage
from kefu_host.chat.repo import ChatRepo
from kefu_host.customers import create_anonymous
from kefu_host.store import Store, open_store
from kefu_host.store.models import Conversation, Message
from kefu_host.webhooks import events, repo
from kefu_host.webhooks.events import EVENT_TYPES, Change
from kefu_host.webhooks.outbox import Outbox
from kefu_host.webhooks.repo import Delivery

ENDPOINTS = [("crm", "http://crm.example/hook"), ("archive", "http://archive.example/hook")]


class Wakes:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@contextlib.asynccontextmanager
async def chat_repo(db_url: str, subscribed: tuple[str, ...] = EVENT_TYPES) -> AsyncIterator[tuple[ChatRepo, Wakes]]:
    """A chat repo whose outbox has both endpoints subscribed to ``subscribed``; the wake-ups it asked for."""
    wakes = Wakes()
    outbox = Outbox()
    outbox.open({t: ENDPOINTS if t in subscribed else [] for t in EVENT_TYPES}, wake=wakes)
    async with open_store(db_url) as store:
        yield ChatRepo(store, on_stored=lambda m, o: None, outbox=outbox), wakes


async def rows(store: Store) -> list[Delivery]:
    return list(reversed(await repo.list_deliveries(store, limit=1000)))


def one_event(found: list[Delivery], event_type: str) -> dict[str, Any]:
    """The payload of ``event_type``, checking it went to each endpoint once, as copies of one event."""
    copies = [d for d in found if d.event_type == event_type]
    assert sorted(d.endpoint for d in copies) == sorted(name for name, _ in ENDPOINTS)
    assert all(d.status == "pending" and d.attempts == 0 for d in copies)
    assert len({d.id for d in copies}) == len(copies) and len({d.payload["id"] for d in copies}) == 1
    return copies[0].payload


async def test_each_change_has_its_deliveries_when_its_write_returns(db_url: str) -> None:
    async with chat_repo(db_url) as (chat, wakes):
        store = chat.store
        created = await chat.create_conversation(await create_anonymous(store), "v1", "support", 50)
        payload = one_event(await rows(store), "conversation.created")
        assert payload["data"] == events.conversation_data(created)
        assert payload["data"]["conversation"]["last_seq"] == 0  # recorded with the opening, before any message
        assert wakes.count == 1

        appended = await chat.append(NewMessage(created.id, "visitor", "v1", "c-1", "hello"))
        payload = one_event(await rows(store), "message.created")
        after_message = created._replace(last_seq=1)
        assert payload["data"] == events.message_data(after_message, appended.message)
        assert payload["occurred_at"] == appended.message.created_at.isoformat()
        assert wakes.count == 2

        closed = after_message._replace(status="closed")
        await chat.update_conversation(
            created.id, status="closed", closed_by="agent", change=events.closed(closed, "agent")
        )
        payload = one_event(await rows(store), "conversation.closed")
        assert payload["data"] == events.closed_data(closed, "agent")
        assert wakes.count == 3
        assert len(await rows(store)) == 3 * len(ENDPOINTS)


async def test_a_batch_of_messages_reports_each_visitor_and_agent_message_once(db_url: str) -> None:
    """Automatic replies, resends and messages to missing conversations are not reported."""
    async with chat_repo(db_url, subscribed=("message.created",)) as (chat, wakes):
        store = chat.store
        first = await chat.create_conversation(await create_anonymous(store), "v1", "support", 50)
        second = await chat.create_conversation(await create_anonymous(store), "v2", "vip", 80)
        assert await rows(store) == [] and wakes.count == 0  # conversation.created has no subscriber
        await chat.append(NewMessage(first.id, "visitor", "v1", "c-0", "earlier"))

        results = await asyncio.gather(
            chat.append(NewMessage(first.id, "visitor", "v1", "c-1", "one")),
            chat.append(NewMessage(first.id, "visitor", "v1", "c-1", "one")),  # repeated within the batch
            chat.append(NewMessage(first.id, "visitor", "v1", "c-0", "earlier")),  # stored before
            chat.append(NewMessage(first.id, "system", "auto_reply", None, "we are busy")),
            chat.append(NewMessage(second.id, "agent", "alice", "a-1", "hi")),
            chat.append(NewMessage(999_999, "visitor", "v9", "x", "lost")),
            return_exceptions=True,
        )
        found = await rows(store)
        reported = {d.payload["data"]["message"]["body"]: d.payload["data"] for d in found}
        assert len(found) == 3 * len(ENDPOINTS)
        assert set(reported) == {"earlier", "one", "hi"}
        one, hi = results[0].message, results[4].message
        assert reported["one"]["message"] == {k: v for k, v in one.to_frame().items() if k != "type"}
        # the conversation as each message left it: last_seq is that message's seq, the rest as stored
        assert reported["one"]["conversation"] == events.conversation_data(first._replace(last_seq=2))["conversation"]
        assert reported["hi"]["conversation"] == events.conversation_data(second._replace(last_seq=1))["conversation"]
        assert hi.seq == 1


async def test_notes_are_never_reported_and_attachments_are_with_their_kind(db_url: str) -> None:
    """A receiver may forward messages to the customer: agents' notes stay out of ``message.created``."""
    async with chat_repo(db_url, subscribed=("message.created",)) as (chat, wakes):
        store = chat.store
        view = await chat.create_conversation(await create_anonymous(store), "v1", "support", 50)
        meta = {"key": "k" * 32, "name": "photo.png", "size": 68, "content_type": "image/png", "image": True}
        results = await asyncio.gather(
            chat.append(NewMessage(view.id, "agent", "alice", "n-1", "refund approved", kind="note")),
            chat.append(NewMessage(view.id, "visitor", "v1", "f-1", "photo.png", kind="attachment", attachment=meta)),
        )
        await chat.append(NewMessage(view.id, "agent", "alice", "n-2", "second note", kind="note"))
        assert [r.message.seq for r in results] == [1, 2]
        found = await rows(store)
        assert [d.payload["data"]["message"]["kind"] for d in found] == ["attachment"] * len(ENDPOINTS)
        reported = found[0].payload["data"]["message"]
        assert reported["attachment"] == {"id": results[1].message.id, "name": "photo.png", "size": 68,
                                          "content_type": "image/png", "image": True,
                                          "url": f"/api/conversations/{view.id}/attachments/{results[1].message.id}"}
        assert "k" * 32 not in repr(found[0].payload)  # the storage key never leaves the host
        assert wakes.count == 1


async def test_a_change_that_fails_writes_no_delivery(db_url: str) -> None:
    async with chat_repo(db_url) as (chat, wakes):
        store = chat.store
        view = await chat.create_conversation(await create_anonymous(store), "v1", "support", 50)
        before = len(await rows(store))
        with pytest.raises(Exception, match="(?i)foreign key"):  # no agent 999999
            await chat.update_conversation(
                view.id, status="assigned", agent_id=999_999, change=events.closed(view, "agent")
            )
        assert len(await rows(store)) == before and wakes.count == 1
        await chat.update_conversation(999_999, status="closed", change=events.closed(view, "agent"))
        assert len(await rows(store)) == before  # no conversation changed, so nothing is reported


async def test_a_change_whose_deliveries_cannot_be_written_is_not_stored_either(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with chat_repo(db_url) as (chat, wakes):
        store = chat.store
        view = await chat.create_conversation(await create_anonymous(store), "v1", "support", 50)
        (taken, *_) = [d.id for d in await rows(store)]
        # every delivery id from now on collides with one already stored
        monkeypatch.setattr("kefu_host.webhooks.outbox.new_delivery_id", lambda: taken)
        monkeypatch.setattr("kefu_host.chat.append.new_delivery_id", lambda: taken)

        with pytest.raises(Exception, match="(?i)unique|duplicate key"):
            await chat.update_conversation(view.id, status="closed", change=events.closed(view, "agent"))
        with pytest.raises(Exception, match="(?i)unique|duplicate key"):
            await chat.append(NewMessage(view.id, "visitor", "v1", "c-1", "hello"))

        async with store.read() as conn:
            status, last_seq = (
                await conn.execute(select(Conversation.status, Conversation.last_seq).where(Conversation.id == view.id))
            ).one()
            messages = (await conn.execute(select(Message.id))).all()
        assert (status, last_seq, messages) == ("queued", 0, [])
        assert [d.event_type for d in await rows(store)] == ["conversation.created"] * len(ENDPOINTS)
        assert wakes.count == 1


def refuse_to_build() -> dict[str, Any]:
    raise AssertionError("event data built for a type nobody subscribes to")


async def test_a_type_nobody_subscribes_to_costs_no_data_and_no_row(db_url: str) -> None:
    async with chat_repo(db_url, subscribed=("conversation.closed",)) as (chat, wakes):
        store = chat.store
        view = await chat.create_conversation(await create_anonymous(store), "v1", "support", 50)
        await chat.update_conversation(view.id, status="assigned", change=Change("conversation.assigned", refuse_to_build))
        await chat.append(NewMessage(view.id, "visitor", "v1", "c-1", "hello"))
        assert await rows(store) == [] and wakes.count == 0


async def test_an_outbox_never_opened_records_nothing(db_url: str) -> None:
    async with open_store(db_url) as store:
        chat = ChatRepo(store, on_stored=lambda m, o: None)
        view = await chat.create_conversation(await create_anonymous(store), "v1", "support", 50)
        await chat.append(NewMessage(view.id, "visitor", "v1", "c-1", "hello"))
        await chat.update_conversation(view.id, status="closed", change=events.closed(view, "visitor"))
        assert await rows(store) == []
