"""Satisfaction ratings: asked for at every close, taken from the conversation's own visitor once it is closed and
within chat.rating_window, replaced by a later rating, cleared when the conversation reopens; the agent who held the
conversation sees each one live, and the conversation's details show it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from kefu_host.keys import STORE
from kefu_host.store.models import Conversation
from kefu_host.testing.clients import AgentClient, VisitorClient
from tests.chat.conftest import Host

WEEK = timedelta(days=7)


async def closed_chat(host: Host, closed_by: str = "agent") -> tuple[AgentClient, VisitorClient, int, str]:
    """An agent and a visitor who talked; the conversation is closed. Returns the agent's token too."""
    token = await host.add_agent("alice")
    alice = await host.agent(token)
    visitor = await host.visitor()
    cid = int((await visitor.say("where is my parcel?"))["conversation_id"])
    await alice.expect("assigned")
    await alice.say(cid, "it arrives tomorrow")
    if closed_by == "agent":
        await alice.send({"type": "close", "conversation_id": cid})
    else:
        await visitor.send({"type": "close"})
    await visitor.expect("closed", conversation_id=cid)
    await alice.expect("closed", conversation_id=cid)
    return alice, visitor, cid, token


async def details(host: Host, cid: int, token: str) -> dict[str, Any]:
    response = await host.client.get(f"/api/conversations/{cid}", headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200, await response.text()
    return dict(await response.json())


async def refusal(visitor: VisitorClient, frame: dict[str, Any]) -> dict[str, Any]:
    """The error frame answering ``frame`` (sent with a ref)."""
    await visitor.send({"ref": "r-1", **frame})
    return await visitor.expect("error", ref="r-1")


@pytest.mark.parametrize("closed_by", ["agent", "visitor"])
async def test_the_closed_frame_asks_the_visitor_for_a_rating_until_the_window_ends(
    start_host: Callable[..., Any], closed_by: str
) -> None:
    host = await start_host()
    _, visitor, cid, _ = await closed_chat(host, closed_by)
    closed = next(f for f in visitor.frames if f["type"] == "closed")
    assert closed["closed_by"] == closed_by and closed["rating"] is None
    until = datetime.fromisoformat(closed["rate_until"])
    assert abs(until - datetime.now(until.tzinfo) - WEEK) < timedelta(minutes=1)  # chat.rating_window's default


async def test_an_idle_close_asks_for_a_rating_too(start_host: Callable[..., Any]) -> None:
    host = await start_host(environ={"KEFU_CHAT__IDLE_CLOSE_AFTER": "0.2"})
    alice = await host.agent(await host.add_agent("alice"))
    visitor = await host.visitor()
    cid = int((await visitor.say("hello?"))["conversation_id"])
    await alice.expect("assigned")
    closed = await visitor.expect("closed", conversation_id=cid, closed_by="idle")
    assert closed["rate_until"] is not None and closed["rating"] is None


async def test_the_visitor_rates_and_the_agent_sees_it_live_and_in_the_details(
    start_host: Callable[..., Any], db_url: str
) -> None:
    host = await start_host(db_url=db_url)
    alice, visitor, cid, token = await closed_chat(host)
    second_tab = await host.visitor(visitor.token)  # type: ignore[attr-defined]

    await visitor.send({"type": "rate", "conversation_id": cid, "score": 4, "comment": "  快，谢谢  "})
    rated = await visitor.expect("rated", conversation_id=cid)
    assert (rated["rating"]["score"], rated["rating"]["comment"]) == (4, "快，谢谢")
    assert (await second_tab.expect("rated", conversation_id=cid))["rating"] == rated["rating"]
    assert (await alice.expect("rated", conversation_id=cid))["rating"] == rated["rating"]

    shown = await details(host, cid, token)
    assert shown["rating"] == rated["rating"] and shown["conversation"]["status"] == "closed"
    assert shown["rate_until"] is not None
    again = await host.visitor(visitor.token)  # type: ignore[attr-defined]  # a reloaded widget
    welcome = again.frames[0]
    assert (welcome["status"], welcome["rating"], welcome["rate_until"]) == ("closed", rated["rating"],
                                                                             shown["rate_until"])


async def test_a_later_rating_replaces_the_earlier_one(start_host: Callable[..., Any], db_url: str) -> None:
    host = await start_host(db_url=db_url)
    alice, visitor, cid, token = await closed_chat(host)
    await visitor.send({"type": "rate", "conversation_id": cid, "score": 1})
    await alice.expect("rated", conversation_id=cid)
    await visitor.send({"type": "rate", "conversation_id": cid, "score": 5, "comment": "misclicked, sorry"})
    second = await alice.expect("rated", conversation_id=cid)
    assert (second["rating"]["score"], second["rating"]["comment"]) == (5, "misclicked, sorry")
    assert (await details(host, cid, token))["rating"] == second["rating"]


async def test_the_visitor_may_close_with_a_rating(start_host: Callable[..., Any], db_url: str) -> None:
    host = await start_host(db_url=db_url)
    token = await host.add_agent("alice")
    alice = await host.agent(token)
    visitor = await host.visitor()
    cid = int((await visitor.say("thanks, bye"))["conversation_id"])
    await alice.expect("assigned")
    await visitor.send({"type": "close", "score": 5, "comment": "great"})
    closed = await alice.expect("closed", conversation_id=cid, closed_by="visitor")
    assert (closed["rating"]["score"], closed["rating"]["comment"]) == (5, "great")
    assert (await details(host, cid, token))["rating"] == closed["rating"]


async def test_reopening_clears_the_rating_and_the_next_close_asks_again(
    start_host: Callable[..., Any], db_url: str
) -> None:
    host = await start_host(db_url=db_url)
    alice, visitor, cid, token = await closed_chat(host)
    await visitor.send({"type": "rate", "conversation_id": cid, "score": 3})
    await visitor.expect("rated")
    await visitor.say("one more question")
    await alice.expect("assigned")
    assert (await details(host, cid, token))["rating"] is None
    await alice.send({"type": "close", "conversation_id": cid})
    closed = await visitor.expect("closed", conversation_id=cid)
    assert closed["rating"] is None and closed["rate_until"] is not None
    await visitor.send({"type": "rate", "conversation_id": cid, "score": 4})
    assert (await visitor.expect("rated"))["rating"]["score"] == 4


@pytest.mark.parametrize(
    ("fields", "code", "says"),
    [
        ({"score": 0}, "bad_frame", "'score' must be an integer from 1 to 5"),
        ({"score": 6}, "bad_frame", "'score' must be an integer from 1 to 5"),
        ({"score": 4.5}, "bad_frame", "'score' must be an integer from 1 to 5"),
        ({"score": "4"}, "bad_frame", "'score' must be an integer from 1 to 5"),
        ({"score": True}, "bad_frame", "'score' must be an integer from 1 to 5"),
        ({}, "bad_frame", "'score' must be an integer from 1 to 5"),
        ({"score": 4, "comment": 7}, "bad_frame", "'comment' must be a string"),
        ({"score": 4, "comment": "x" * 1001}, "too_long", "'comment' is longer than 1000 characters"),
        ({"score": 4, "comment": "bad\x00byte"}, "bad_frame", "'comment' must not contain U+0000 (NUL)"),
    ],
)
async def test_a_bad_rating_is_refused_with_what_was_wrong_and_nothing_is_stored(
    start_host: Callable[..., Any], db_url: str, fields: dict[str, Any], code: str, says: str
) -> None:
    host = await start_host(db_url=db_url)
    _, visitor, cid, token = await closed_chat(host)
    error = await refusal(visitor, {"type": "rate", "conversation_id": cid, **fields})
    assert (error["code"], error["message"]) == (code, says)
    assert (await details(host, cid, token))["rating"] is None


async def test_a_rating_needs_a_conversation_id(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    _, visitor, _, _ = await closed_chat(host)
    error = await refusal(visitor, {"type": "rate", "score": 4})
    assert (error["code"], error["message"]) == ("bad_frame",
                                                  "'conversation_id' must be an integer from 1 to 9223372036854775807")


async def test_only_the_conversations_own_visitor_may_rate_it(start_host: Callable[..., Any], db_url: str) -> None:
    host = await start_host(db_url=db_url)
    _, visitor, cid, token = await closed_chat(host)
    stranger = await host.visitor()
    error = await refusal(stranger, {"type": "rate", "conversation_id": cid, "score": 1})
    assert (error["code"], error["message"]) == ("forbidden", f"conversation {cid} is not yours to rate")
    missing = await refusal(stranger, {"type": "rate", "conversation_id": cid + 1000, "score": 1})
    assert missing["code"] == "forbidden"  # the same answer as for someone else's: ids cannot be probed
    assert (await details(host, cid, token))["rating"] is None


async def test_an_open_conversation_cannot_be_rated(start_host: Callable[..., Any], db_url: str) -> None:
    host = await start_host(db_url=db_url)
    alice = await host.agent(await host.add_agent("alice"))
    visitor = await host.visitor()
    cid = int((await visitor.say("hello"))["conversation_id"])
    await alice.expect("assigned")
    error = await refusal(visitor, {"type": "rate", "conversation_id": cid, "score": 5})
    assert error["code"] == "not_closed" and "still open" in error["message"]
    await alice.send({"type": "ping"})
    await alice.expect("pong")  # anything announced before the refusal would have come before this
    assert not any(f["type"] == "rated" for f in alice.frames)


async def test_the_window_closes(start_host: Callable[..., Any], db_url: str) -> None:
    host = await start_host(db_url=db_url, environ={"KEFU_CHAT__RATING_WINDOW": "3600"})
    _, visitor, cid, token = await closed_chat(host)

    async def closed_long_ago(conn: AsyncConnection) -> None:  # as if the hour had passed
        await conn.execute(update(Conversation).where(Conversation.id == cid)
                           .values(closed_at=datetime.now(UTC) - timedelta(seconds=3601)))

    await host.app[STORE].writer.transaction(closed_long_ago)
    error = await refusal(visitor, {"type": "rate", "conversation_id": cid, "score": 2})
    assert error["code"] == "rating_closed" and "could be rated until" in error["message"]
    shown = await details(host, cid, token)
    assert shown["rating"] is None
    assert datetime.fromisoformat(shown["rate_until"]) < datetime.now(UTC)


async def test_with_no_rating_window_no_rating_is_asked_for_or_taken(start_host: Callable[..., Any]) -> None:
    host = await start_host(environ={"KEFU_CHAT__RATING_WINDOW": "0"})
    _, visitor, cid, _ = await closed_chat(host)
    closed = next(f for f in visitor.frames if f["type"] == "closed")
    assert closed["rate_until"] is None
    error = await refusal(visitor, {"type": "rate", "conversation_id": cid, "score": 5})
    assert (error["code"], error["message"]) == ("rating_closed", "this host does not take ratings")


async def test_a_close_with_a_bad_score_closes_nothing(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    alice = await host.agent(await host.add_agent("alice"))
    visitor = await host.visitor()
    cid = int((await visitor.say("hello"))["conversation_id"])
    await alice.expect("assigned")
    error = await refusal(visitor, {"type": "close", "score": 9})
    assert error["code"] == "bad_frame"
    await visitor.say("still here")  # the conversation is still open: no reopening
    assert (await alice.expect("message", conversation_id=cid))["body"] == "still here"
    assert not any(f["type"] == "closed" for f in visitor.frames)


async def test_ratings_count_against_the_visitors_message_rate(start_host: Callable[..., Any]) -> None:
    host = await start_host(environ={"KEFU_CHAT__VISITOR_RATE": "0.01", "KEFU_CHAT__VISITOR_BURST": "3"})
    _, visitor, cid, _ = await closed_chat(host)  # one message sent: two tokens left
    for score in (1, 2):
        await visitor.send({"type": "rate", "conversation_id": cid, "score": score})
        await visitor.expect("rated")
    error = await refusal(visitor, {"type": "rate", "conversation_id": cid, "score": 3})
    assert error["code"] == "rate_limited"
