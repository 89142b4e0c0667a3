"""Presence is the agent's, decided by all of its sockets, and every change is announced to all of them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


async def test_a_tab_opened_away_does_not_take_an_online_agent_away(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    token = await host.add_agent("li")
    online = await host.agent(token)
    away_tab = await host.agent(token, presence="away")
    assert away_tab.frames[0]["presence"] == "online"  # the agent is online: another tab says so
    await away_tab.close()

    visitor = await host.visitor()
    await visitor.say("anyone there?")
    assert (await online.expect("assigned"))["conversation"]["status"] == "assigned"


async def test_when_the_last_online_tab_closes_the_agent_is_away_and_told_so(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    token = await host.add_agent("li")
    online = await host.agent(token)
    away_tab = await host.agent(token, presence="away")
    await online.close()
    assert (await away_tab.expect("presence"))["status"] == "away"

    visitor = await host.visitor()
    await visitor.say("hello?")
    assert (await visitor.expect("queue"))["position"] == 1  # away agents take nothing new


async def test_a_presence_choice_applies_to_every_tab_and_each_hears_it(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    token = await host.add_agent("li")
    first, second = await host.agent(token), await host.agent(token)
    await second.send({"type": "presence", "status": "away"})
    assert (await first.expect("presence"))["status"] == "away"
    assert (await second.expect("presence"))["status"] == "away"

    visitor = await host.visitor()
    await visitor.say("hi")
    await visitor.expect("queue")
    await first.send({"type": "presence", "status": "online"})
    assert (await second.expect("presence"))["status"] == "online"
    await first.expect("assigned")


async def test_asking_for_the_presence_one_has_is_still_answered(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    agent = await host.agent(await host.add_agent("li"))
    assert agent.frames[0]["presence"] == "online"
    await agent.send({"type": "presence", "status": "online"})
    assert (await agent.expect("presence"))["status"] == "online"


async def test_the_welcome_of_a_first_tab_opened_away_says_away(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    agent = await host.agent(await host.add_agent("li"), presence="away")
    assert agent.frames[0]["presence"] == "away"
