"""Whether the visitor's team has an agent online: said in the welcome, and announced when it flips."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kefu_host.testing.clients import ProtocolClient


async def settled(client: ProtocolClient) -> list[dict[str, Any]]:
    """Every frame so far: once a ping is answered, anything published to this socket before it has arrived."""
    await client.send({"type": "ping"})
    await client.expect("pong")
    return client.frames


def announced(frames: list[dict[str, Any]]) -> list[bool]:
    return [f["agents_online"] for f in frames if f["type"] == "availability"]


async def test_the_welcome_says_whether_an_agent_of_the_visitors_team_is_online(
    start_host: Callable[..., Any]
) -> None:
    host = await start_host()
    token = await host.add_agent("alice")
    alone = await host.visitor()
    assert (alone.frames[0]["team"], alone.frames[0]["agents_online"]) == ("support", False)

    await host.agent(token, presence="away")  # connected but away takes no chats: still nobody online
    assert (await host.visitor()).frames[0]["agents_online"] is False
    await host.agent(token)
    assert (await host.visitor()).frames[0]["agents_online"] is True


async def test_visitors_hear_when_their_team_gains_its_first_agent_and_loses_its_last(
    start_host: Callable[..., Any]
) -> None:
    host = await start_host()
    alice_token, bob_token = await host.add_agent("alice"), await host.add_agent("bob")
    visitor = await host.visitor()

    alice = await host.agent(alice_token)
    flipped = await visitor.expect("availability")
    assert flipped == {"type": "availability", "team": "support", "agents_online": True}
    bob = await host.agent(bob_token)
    await settled(bob)
    assert announced(await settled(visitor)) == [True]  # a second agent changes nothing for visitors

    await alice.send({"type": "presence", "status": "away"})
    await alice.expect("presence", status="away")
    await bob.close()
    assert (await visitor.expect("availability"))["agents_online"] is False  # the last online agent left
    await alice.send({"type": "presence", "status": "online"})
    assert (await visitor.expect("availability"))["agents_online"] is True
    assert announced(await settled(visitor)) == [True, False, True]


async def test_another_teams_agents_do_not_count(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    vip = await host.agent(await host.add_agent("vera", teams=("vip",)))
    await settled(vip)
    visitor = await host.visitor()
    assert visitor.frames[0]["agents_online"] is False
    await host.agent(await host.add_agent("alice"))
    assert (await visitor.expect("availability"))["team"] == "support"


async def test_an_open_conversation_is_about_its_own_team(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    alice = await host.agent(await host.add_agent("alice"))
    visitor = await host.visitor()
    cid = int((await visitor.say("I want the VIP desk"))["conversation_id"])
    await alice.expect("assigned")
    await alice.send({"type": "transfer", "conversation_id": cid, "team": "vip"})
    await alice.expect("unassigned", conversation_id=cid)
    again = await host.visitor(visitor.token)  # type: ignore[attr-defined]
    assert (again.frames[0]["team"], again.frames[0]["agents_online"]) == ("vip", False)
