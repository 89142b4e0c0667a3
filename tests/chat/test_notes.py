"""Private notes: agents write them in the conversation's stream (same seqs as messages); visitors never get them,
live, on resume, or over HTTP; another agent who takes the conversation over reads them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from kefu_host import hookimpl
from kefu_host.chat.protocol import Frame
from kefu_host.keys import CHAT, PLUGIN_MANAGER
from kefu_host.testing.clients import ProtocolClient

SECRET = "VIP: refund approved up to 200"


def never_saw(client: ProtocolClient, text: str) -> bool:
    """Nothing this socket received carries ``text``, in any field."""
    return all(text not in repr(f) for f in client.frames)


async def history(host: Any, cid: int, token: str, query: str = "") -> list[dict[str, Any]]:
    response = await host.client.get(f"/api/conversations/{cid}/messages{query}",
                                     headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200, await response.text()
    return list((await response.json())["messages"])


async def test_a_note_takes_the_next_seq_reaches_the_agents_tabs_and_never_the_visitor(
    start_host: Callable[..., Any], db_url: str
) -> None:
    host = await start_host(db_url=db_url)
    token = await host.add_agent("alice")
    alice, alice_tab = await host.agent(token), await host.agent(token)
    visitor = await host.visitor()
    cid = (await visitor.say("my parcel is late"))["conversation_id"]
    await alice.expect("assigned")
    await alice_tab.expect("assigned")

    ack = await alice.note(cid, SECRET)
    assert (ack["seq"], ack["duplicate"]) == (2, False)
    copy = await alice_tab.expect("message", seq=2)
    assert (copy["kind"], copy["body"], copy["sender"]) == ("note", SECRET, "agent")
    await alice.say(cid, "sorry, let me check")

    assert (await visitor.expect("message"))["seq"] == 3  # the next message meant for the visitor, no gap reported
    assert never_saw(visitor, SECRET)
    assert [(m["seq"], m["kind"]) for m in await history(host, cid, visitor.token)] == [(1, "text"), (3, "text")]  # type: ignore[attr-defined]
    agents_view = await history(host, cid, token)
    assert [(m["seq"], m["kind"], m["body"]) for m in agents_view][1] == (2, "note", SECRET)
    assert [m["seq"] for m in agents_view] == [1, 2, 3]


async def test_a_visitor_resuming_before_a_note_gets_the_messages_after_it_but_not_the_note(
    start_host: Callable[..., Any], db_url: str
) -> None:
    host = await start_host(db_url=db_url)
    alice = await host.agent(await host.add_agent("alice"))
    visitor = await host.visitor()
    cid = (await visitor.say("hello"))["conversation_id"]
    await alice.expect("assigned")
    await alice.note(cid, SECRET)
    await alice.say(cid, "how can I help?")
    await alice.note(cid, SECRET + " (second)")
    await alice.say(cid, "still there?")

    again = await host.visitor(token=visitor.token, last_seq=1)  # type: ignore[attr-defined]
    replayed = [await again.expect("message"), await again.expect("message")]
    assert [(m["seq"], m["body"]) for m in replayed] == [(3, "how can I help?"), (5, "still there?")]
    await again.send({"type": "ping"})
    await again.expect("pong")  # frames arrive in order: had the replay held a note, it would be in before this
    assert never_saw(again, SECRET)


async def test_resuming_a_conversation_that_ends_in_a_note_reads_the_store_once(
    start_host: Callable[..., Any], db_url: str
) -> None:
    """The replay reads the note, sends nothing, and moves the resume point past it: the next message is not taken
    for a gap, so it is not read from the store again."""
    host = await start_host(db_url=db_url)
    chat = host.app[CHAT]
    reads: list[tuple[int, int]] = []
    fetch = chat.fetch_frames

    async def counted(conversation_id: int, after_seq: int) -> Sequence[Frame]:
        reads.append((conversation_id, after_seq))
        return await fetch(conversation_id, after_seq)

    chat.fetch_frames = counted  # type: ignore[method-assign]
    alice = await host.agent(await host.add_agent("alice"))
    visitor = await host.visitor()
    cid = (await visitor.say("hello"))["conversation_id"]
    await alice.expect("assigned")
    await alice.say(cid, "one moment")
    await alice.note(cid, SECRET)  # seq 3: the conversation's last
    reads.clear()

    again = await host.visitor(token=visitor.token, last_seq=2)  # type: ignore[attr-defined]
    await again.send({"type": "ping"})
    await again.expect("pong")
    await alice.say(cid, "found it")
    assert (await again.expect("message"))["seq"] == 4
    await alice.say(cid, "it ships today")
    assert (await again.expect("message"))["seq"] == 5
    assert reads == [(cid, 2)]  # the resume itself, and nothing after it
    assert never_saw(again, SECRET)


async def test_a_colleague_who_takes_the_conversation_over_reads_the_notes(
    start_host: Callable[..., Any], db_url: str
) -> None:
    host = await start_host(db_url=db_url)
    alice = await host.agent(await host.add_agent("alice"))
    bob_token = await host.add_agent("bob")
    bob = await host.agent(bob_token, presence="away")  # gets nothing until the transfer names him
    visitor = await host.visitor()
    cid = (await visitor.say("I want a refund"))["conversation_id"]
    await alice.expect("assigned")
    await alice.note(cid, SECRET)
    await bob.send({"type": "presence", "status": "online"})
    await bob.expect("presence", status="online")

    await alice.send({"type": "transfer", "conversation_id": cid, "agent": "bob"})
    assigned = await bob.expect("assigned")
    assert [(m["seq"], m["kind"], m["body"]) for m in assigned["messages"]] == [
        (1, "text", "I want a refund"), (2, "note", SECRET)]
    assert [m["kind"] for m in await history(host, cid, bob_token)] == ["text", "note"]
    await bob.note(cid, "bob: calling the warehouse")
    await bob.say(cid, "hello, this is bob")
    assert (await visitor.expect("message", seq=4))["body"] == "hello, this is bob"
    assert never_saw(visitor, SECRET) and never_saw(visitor, "warehouse")


async def test_a_note_flag_that_is_not_a_boolean_is_refused(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    alice = await host.agent(await host.add_agent("alice"))
    visitor = await host.visitor()
    cid = (await visitor.say("hi"))["conversation_id"]
    await alice.expect("assigned")
    await alice.send({"type": "send", "conversation_id": cid, "client_msg_id": "n1", "body": "x", "note": "yes"})
    error = await alice.expect("error")
    assert (error["code"], error["ref"]) == ("bad_frame", "n1") and "'note'" in error["message"]


class Heard:
    def __init__(self) -> None:
        self.bodies: list[str] = []

    @hookimpl
    async def kefu_message_received(self, conversation: Any, message: Any) -> None:
        self.bodies.append(message.body)


async def test_plugins_do_not_hear_notes(start_host: Callable[..., Any], tmp_path: Any) -> None:
    plugin = tmp_path / "heard.py"
    plugin.write_text("from tests.chat.test_notes import Heard\ndef kefu_plugin(settings):\n    return Heard()\n")
    host = await start_host(plugins=[(str(plugin), {})])
    heard = host.app[PLUGIN_MANAGER].get_plugin("heard")
    alice = await host.agent(await host.add_agent("alice"))
    visitor = await host.visitor()
    cid = (await visitor.say("hello"))["conversation_id"]
    await alice.expect("assigned")
    await alice.note(cid, SECRET)
    await alice.say(cid, "hi")
    await alice.send({"type": "ping"})  # a socket's frames are handled one by one, hooks included
    await alice.expect("pong")
    assert heard.bodies == ["hello", "hi"]
