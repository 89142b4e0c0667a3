"""The offline form: a message left while no agent is online is stored with the visitor's contact details, waits in
the queue (through a restart too) and goes to the first agent who comes online, marked as left offline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kefu_host.chat.tokens import identity_hash
from kefu_host.keys import CHAT
from kefu_host.testing.clients import VisitorClient
from tests.chat.conftest import Host

LEFT = {"type": "offline_message", "client_msg_id": "off-1", "body": "Do you ship to Hangzhou?",
        "name": "Wang Fang", "email": "fang@example.com"}


def user_hash(user_id: str) -> str:
    return identity_hash("test-identity-secret", user_id)  # secrets.identity in tests/conftest.py


async def leave(visitor: VisitorClient, **fields: Any) -> dict[str, Any]:
    """Send the offline form; the ack of its message."""
    await visitor.send({**LEFT, **fields})
    return await visitor.expect("ack", client_msg_id=fields.get("client_msg_id", LEFT["client_msg_id"]))


async def customer(host: Host, customer_id: int) -> Any:
    return await host.app[CHAT].service.repo.customer(customer_id)


async def test_a_message_left_offline_is_kept_and_given_to_the_first_agent_who_comes_online(
    start_host: Callable[..., Any], db_url: str
) -> None:
    host = await start_host(db_url=db_url)
    session = await host.visitor_session()
    visitor = await host.visitor(session["token"])
    assert visitor.frames[0]["agents_online"] is False

    ack = await leave(visitor)
    assert ack["seq"] == 1 and not ack["duplicate"]
    queued = await visitor.expect("queue")
    assert (queued["conversation_id"], queued["position"]) == (ack["conversation_id"], 1)
    kept = await customer(host, session["customer_id"])
    assert (kept.uid, kept.name, kept.email) == (None, "Wang Fang", "fang@example.com")

    alice = await host.agent(await host.add_agent("alice"))
    assigned = await alice.expect("assigned")
    assert assigned["conversation"]["id"] == ack["conversation_id"]
    assert "offline" in assigned["conversation"]["tags"]
    assert (assigned["customer"]["name"], assigned["customer"]["email"]) == ("Wang Fang", "fang@example.com")
    assert [(m["sender"], m["body"]) for m in assigned["messages"]] == [("visitor", "Do you ship to Hangzhou?")]
    assert (await visitor.expect("agent_joined"))["agent"] == "alice"


async def test_the_message_waits_through_a_restart(start_host: Callable[..., Any], db_url: str) -> None:
    host = await start_host(db_url=db_url)
    visitor = await host.visitor()
    cid = (await leave(visitor))["conversation_id"]
    await visitor.close()
    await host.client.close()

    again = await start_host(db_url=db_url)
    alice = await again.agent(await again.add_agent("alice"))
    assigned = await alice.expect("assigned")
    assert assigned["conversation"]["id"] == cid and "offline" in assigned["conversation"]["tags"]
    assert assigned["customer"]["email"] == "fang@example.com"


async def test_a_resent_form_is_stored_once(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    visitor = await host.visitor()
    first = await leave(visitor)
    again = await leave(visitor)
    assert again["duplicate"] and (again["id"], again["seq"]) == (first["id"], first["seq"])


async def test_a_verified_customers_profile_is_only_filled_in_never_overwritten(
    start_host: Callable[..., Any], db_url: str
) -> None:
    host = await start_host(db_url=db_url)
    session = await host.visitor_session(user_id="u-7", user_hash=user_hash("u-7"), name="Li Lei")
    visitor = await host.visitor(session["token"])
    await leave(visitor, name="Somebody Else", email="li@example.com")
    kept = await customer(host, session["customer_id"])
    assert (kept.uid, kept.name, kept.email) == ("u-7", "Li Lei", "li@example.com")


async def test_a_verified_customer_needs_no_email(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    visitor = await host.visitor(user_id="u-8", user_hash=user_hash("u-8"))
    await visitor.send({"type": "offline_message", "client_msg_id": "v-1", "body": "call me back"})
    await visitor.expect("ack", client_msg_id="v-1")


async def test_an_anonymous_visitor_with_an_email_on_record_need_not_repeat_it(
    start_host: Callable[..., Any]
) -> None:
    host = await start_host()
    session = await host.visitor_session()
    visitor = await host.visitor(session["token"])
    await leave(visitor)
    await leave(visitor, client_msg_id="off-2", body="also: gift wrap?", name=None, email=None)
    assert (await customer(host, session["customer_id"])).email == "fang@example.com"


@pytest.mark.parametrize(
    ("fields", "code", "says"),
    [
        ({"email": None}, "bad_frame", "'email' is required, so that an agent can answer after you have left"),
        ({"email": "   "}, "bad_frame", "'email' is required, so that an agent can answer after you have left"),
        ({"email": "fang at example"}, "bad_frame", "'email' must be an address like name@example.com"),
        ({"email": 42}, "bad_frame", "'email' must be a string"),
        ({"name": "x" * 256}, "too_long", "'name' is longer than 255 characters"),
        ({"name": "Wang\x00"}, "bad_frame", "'name' must not contain U+0000 (NUL)"),
        ({"body": "hi\x00"}, "bad_frame", "'body' must not contain U+0000 (NUL)"),
        ({"body": ""}, "bad_frame", "'body' must be a non-empty string"),
        ({"body": "x" * 8001}, "too_long", "'body' is longer than 8000 characters"),
    ],
)
async def test_a_bad_form_is_refused_with_what_was_wrong_and_nothing_is_kept(
    start_host: Callable[..., Any], db_url: str, fields: dict[str, Any], code: str, says: str
) -> None:
    host = await start_host(db_url=db_url)
    session = await host.visitor_session()
    visitor = await host.visitor(session["token"])
    await visitor.send({**LEFT, **fields})
    error = await visitor.expect("error", ref="off-1")
    assert (error["code"], error["message"]) == (code, says)
    kept = await customer(host, session["customer_id"])
    assert (kept.name, kept.email) == (None, None)
    assert (await host.visitor(session["token"])).frames[0]["conversation_id"] is None


async def test_a_form_sent_while_an_agent_is_online_is_a_live_chat(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    alice = await host.agent(await host.add_agent("alice"))
    visitor = await host.visitor()
    await leave(visitor)  # the agent came online while the form was open: it is answered at once
    assigned = await alice.expect("assigned")
    assert assigned["customer"]["name"] == "Wang Fang"
    assert (await visitor.expect("agent_joined"))["agent"] == "alice"
