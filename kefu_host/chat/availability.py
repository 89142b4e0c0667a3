"""Whether a team has an agent online: the visitor widget shows the live chat, or the offline form when not.

Each visitor socket listens to one team's availability topic (see docs/protocol.md, ``welcome``). A frame is
published only when a team's answer flips (its first agent came online, its last one went away or left), so agents
coming and going cost visitors nothing in between, and nothing at all for teams without visitors listening.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kefu_host.chat.assignment import Dispatcher
from kefu_host.chat.hub import Hub
from kefu_host.chat.protocol import frame


def availability_topic(team: str) -> str:
    return f"t:{team}"


def availability_frame(team: str, online: bool) -> dict[str, Any]:
    return {"type": "availability", "team": team, "agents_online": online}


class Availability:
    """The answer per team, kept current by :meth:`refresh`, which the presence keeper calls after every change of
    an agent's presence or teams (the only changes that can flip it), so :meth:`online`, asked by every visitor
    welcome, is a dictionary lookup even in a reconnect storm."""

    def __init__(self, dispatcher: Dispatcher, hub: Hub) -> None:
        self.dispatcher = dispatcher
        self.hub = hub
        #: the answer per team as last refreshed; every team starts without agents online (all start offline)
        self._online: dict[str, bool] = {}

    def online(self, team: str) -> bool:
        """Is an agent of ``team`` online (not away, not disconnected)? Busy agents count: the visitor then waits in
        the queue, with its place shown, rather than leaving a message."""
        return self._online.get(team, False)

    def refresh(self, teams: Iterable[str]) -> None:
        """Work the answer out again for ``teams``; announce those whose answer changed."""
        agents = self.dispatcher.agents.values()
        for team in teams:
            now = any(team in a.teams and a.presence == "online" for a in agents)
            if self._online.get(team, False) != now:
                self._online[team] = now
                self.hub.publish(availability_topic(team), frame(availability_frame(team, now)))
