"""A real conversation on a running host turns into signed webhooks: every event type, the right endpoints only."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from kefu_host.config import load_config
from kefu_host.keys import STORE
from kefu_host.testing.clients import ProtocolClient
from kefu_host.webhooks import repo
from tests.chat.conftest import Host
from tests.webhooks.conftest import OTHER_SECRET, SECRET, Receiver, deliveries, webhooks_toml

FULL_FLOW = Counter(
    {
        "conversation.created": 1,
        "conversation.reopened": 1,
        "conversation.assigned": 2,
        "conversation.transferred": 1,
        "conversation.closed": 1,
        "message.created": 3,
    }
)


async def settled(client: ProtocolClient) -> None:
    """The socket handles frames one at a time, hooks included: once a ping is answered, earlier frames are done."""
    await client.send({"type": "ping"})
    await client.expect("pong")


async def conversation_flow(host: Host) -> int:
    """Open, assign, reply, close, reopen, re-assign, transfer; returns the conversation id."""
    alice = await host.agent(await host.add_agent("alice"))
    visitor = await host.visitor()
    cid = int((await visitor.say("hello, my order is late"))["conversation_id"])
    await alice.expect("assigned")
    await alice.say(cid, "sorry, checking now")
    await alice.send({"type": "close", "conversation_id": cid})
    await visitor.expect("closed", closed_by="agent")
    await visitor.say("one more thing")
    await alice.expect("assigned")
    await alice.send({"type": "transfer", "conversation_id": cid, "team": "vip"})
    await alice.expect("unassigned", conversation_id=cid)
    await settled(visitor)
    await settled(alice)
    return cid


def by_type(requests: list[Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in requests:
        out.setdefault(r.payload["type"], []).append(r.payload)
    return out


async def test_a_conversation_sends_every_event_type_signed_to_the_endpoints_that_want_it(
    db_url: str,
    receivers: Callable[..., Awaitable[Receiver]],
    webhook_config: Callable[..., Any],
    start_webhook_host: Callable[..., Awaitable[Host]],
) -> None:
    everything = await receivers(SECRET)
    closes_only = await receivers(OTHER_SECRET)
    _, config = webhook_config(
        webhooks_toml(
            {
                "crm": (everything.url, SECRET, ["*"]),
                "archive": (closes_only.url, OTHER_SECRET, ["conversation.closed"]),
            }
        ),
        db_url=db_url,
    )
    host = await start_webhook_host(config)
    cid = await conversation_flow(host)

    got = await everything.wait_for(sum(FULL_FLOW.values()))
    assert Counter(everything.types()) == FULL_FLOW
    assert all(r.verified and r.answered == 200 for r in got)
    assert all(r.headers["content-type"] == "application/json" for r in got)

    events = by_type(got)
    for payload in got:
        envelope = payload.payload
        assert set(envelope) == {"id", "type", "occurred_at", "data"}
        assert envelope["id"].startswith("evt_")
        assert datetime.fromisoformat(envelope["occurred_at"]).tzinfo is not None
        assert envelope["data"]["conversation"]["id"] == cid
    assert events["conversation.created"][0]["data"]["conversation"]["team"] == "support"
    assert {e["data"]["agent"]["name"] for e in events["conversation.assigned"]} == {"alice"}
    messages = sorted(events["message.created"], key=lambda e: e["data"]["message"]["seq"])
    assert [(m["data"]["message"]["sender"], m["data"]["message"]["body"]) for m in messages] == [
        ("visitor", "hello, my order is late"),
        ("agent", "sorry, checking now"),
        ("visitor", "one more thing"),
    ]
    # each event carries the conversation as that change left it
    created = events["conversation.created"][0]["data"]["conversation"]
    assert (created["status"], created["agent_id"], created["last_seq"]) == ("queued", None, 0)
    reopened = events["conversation.reopened"][0]["data"]["conversation"]
    assert (reopened["status"], reopened["agent_id"], reopened["last_seq"]) == ("queued", None, 2)
    for m in messages:
        assert m["data"]["conversation"]["last_seq"] == m["data"]["message"]["seq"]
        assert m["data"]["conversation"]["created_at"] == created["created_at"]
    assert messages[1]["data"]["conversation"]["status"] == "assigned"
    for e in events["conversation.assigned"]:
        assert e["data"]["conversation"]["status"] == "assigned"
        assert e["data"]["conversation"]["agent_id"] == e["data"]["agent"]["id"]
    assert events["conversation.closed"][0]["data"]["closed_by"] == "agent"
    assert events["conversation.closed"][0]["data"]["conversation"]["status"] == "closed"
    transferred = events["conversation.transferred"][0]["data"]
    assert (transferred["from_team"], transferred["to_team"], transferred["reason"]) == (
        "support",
        "vip",
        "agent",
    )
    assert (transferred["conversation"]["team"], transferred["conversation"]["transfers"]) == ("vip", 1)

    # the endpoint subscribed to one type got that type only, as its own delivery of the same event
    (closed,) = await closes_only.wait_for(1)
    assert closed.verified and closed.payload["type"] == "conversation.closed"
    assert closed.payload["id"] == events["conversation.closed"][0]["id"]
    crm_closed = next(r for r in got if r.payload["type"] == "conversation.closed")
    assert closed.delivery_id != crm_closed.delivery_id

    # the table agrees: one row per delivery, each delivered on its first attempt, webhook-id = row id
    rows = await deliveries(host)
    store = host.app[STORE]
    for r in [*got, closed]:
        row = await repo.get(store, r.delivery_id)
        assert row is not None and row.payload == r.payload
        assert row.url == (closes_only.url if row.endpoint == "archive" else everything.url)
    # the receiver answers before the worker records the answer: wait for the records (bounded)
    for _ in range(100):
        done = [await repo.get(store, r.id) for r in rows]
        if all(d is not None and d.status == "delivered" for d in done):
            break
        await asyncio.sleep(0.05)
    assert all(d is not None and d.status == "delivered" and d.attempts == 1 for d in done)
    assert Counter(r.endpoint for r in rows) == {"crm": sum(FULL_FLOW.values()), "archive": 1}
    assert {r.event_type for r in rows if r.endpoint == "archive"} == {"conversation.closed"}
    assert len(closes_only.requests) == 1


async def test_without_endpoints_nothing_is_recorded(
    webhook_config: Callable[..., Any], start_webhook_host: Callable[..., Awaitable[Host]]
) -> None:
    _, config = webhook_config("")
    host = await start_webhook_host(config)
    await conversation_flow(host)
    assert await deliveries(host) == []


async def test_message_events_are_not_written_when_no_endpoint_wants_them(
    receivers: Callable[..., Awaitable[Receiver]],
    webhook_config: Callable[..., Any],
    start_webhook_host: Callable[..., Awaitable[Host]],
) -> None:
    receiver = await receivers()
    _, config = webhook_config(webhooks_toml({"crm": (receiver.url, SECRET, ["conversation.created"])}))
    host = await start_webhook_host(config)
    visitor = await host.visitor()
    for n in range(5):
        await visitor.say(f"message {n}")
    await settled(visitor)
    rows = await deliveries(host)
    assert [r.event_type for r in rows] == ["conversation.created"]
    await receiver.wait_for(1)


async def test_a_requeue_is_sent_as_a_transfer_within_the_team_with_its_assignment_before_it(
    db_url: str,
    receivers: Callable[..., Awaitable[Receiver]],
    write_config: Callable[..., Any],
    start_webhook_host: Callable[..., Awaitable[Host]],
) -> None:
    receiver = await receivers()
    wanted = ["conversation.assigned", "conversation.transferred"]
    path = write_config(webhooks_toml({"crm": (receiver.url, SECRET, wanted)}), db_url=db_url)
    config = load_config(path, environ={"KEFU_CHAT__AGENT_GRACE_PERIOD": "0.05"})
    host = await start_webhook_host(config)
    alice = await host.agent(await host.add_agent("alice"))
    visitor = await host.visitor()
    cid = int((await visitor.say("hello"))["conversation_id"])
    await alice.expect("assigned")
    await alice.close()  # gone past the grace period: the conversation waits in its team's queue again
    await visitor.expect("requeued", conversation_id=cid)

    assigned, requeued = sorted(await receiver.wait_for(2), key=lambda r: r.payload["occurred_at"])
    assert [assigned.payload["type"], requeued.payload["type"]] == wanted
    data = requeued.payload["data"]
    assert (data["from_team"], data["to_team"], data["reason"]) == ("support", "support", "requeue")
    assert (data["conversation"]["status"], data["conversation"]["agent_id"]) == ("queued", None)


async def test_ratings_reach_receivers_with_the_close_and_as_conversation_rated(
    db_url: str,
    receivers: Callable[..., Awaitable[Receiver]],
    webhook_config: Callable[..., Any],
    start_webhook_host: Callable[..., Awaitable[Host]],
) -> None:
    receiver = await receivers()
    wanted = ["conversation.closed", "conversation.rated"]
    _, config = webhook_config(webhooks_toml({"crm": (receiver.url, SECRET, wanted)}), db_url=db_url)
    host = await start_webhook_host(config)
    alice = await host.agent(await host.add_agent("alice"))
    visitor = await host.visitor()
    cid = int((await visitor.say("is it in stock?"))["conversation_id"])
    await alice.expect("assigned")

    # the agent closes: the closed event comes first, without a rating, saying until when one may follow
    await alice.send({"type": "close", "conversation_id": cid})
    closed_frame = await visitor.expect("closed", conversation_id=cid)
    (closed,) = await receiver.wait_for(1)
    data = closed.payload["data"]
    assert (data["closed_by"], data["rating"], data["rate_until"]) == ("agent", None, closed_frame["rate_until"])

    await visitor.send({"type": "rate", "conversation_id": cid, "score": 2, "comment": "slow"})
    first = (await visitor.expect("rated"))["rating"]
    await visitor.send({"type": "rate", "conversation_id": cid, "score": 4})
    second = (await visitor.expect("rated"))["rating"]
    # two deliveries may be in flight at once: order them as receivers are told to, by time
    rated, changed = sorted((await receiver.wait_for(3))[1:], key=lambda r: r.payload["occurred_at"])
    assert [rated.payload["type"], changed.payload["type"]] == ["conversation.rated", "conversation.rated"]
    assert rated.payload["data"]["rating"] == first == {"score": 2, "comment": "slow",
                                                        "rated_at": first["rated_at"]}
    assert (rated.payload["data"]["previous"], rated.payload["data"]["closed_by"]) == (None, "agent")
    assert changed.payload["data"]["rating"] == second and changed.payload["data"]["previous"] == first
    assert changed.payload["data"]["conversation"]["id"] == cid
    assert changed.payload["data"]["conversation"]["status"] == "closed"

    # closing with a rating: the closed event carries it, and conversation.rated reports it as for any rating
    await visitor.say("and the other colour?")
    await alice.expect("assigned")
    await visitor.send({"type": "close", "score": 5, "comment": "thanks!"})
    given = (await alice.expect("closed", conversation_id=cid))["rating"]
    got = await receiver.wait_for(5)
    by_kind = {r.payload["type"]: r.payload["data"] for r in got[3:]}
    assert by_kind["conversation.closed"]["closed_by"] == "visitor"
    assert by_kind["conversation.closed"]["rating"] == given == by_kind["conversation.rated"]["rating"]
    assert given["score"] == 5 and given["comment"] == "thanks!"
    assert by_kind["conversation.rated"]["previous"] is None  # the reopening cleared the earlier rating
    assert all(r.verified for r in got)
