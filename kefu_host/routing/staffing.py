"""Teams the rules send conversations to that no enabled agent belongs to: conversations there wait forever.

The shipped rules route English chats to ``en-desk``; a newcomer who creates one ``--team support`` agent
never sees them, and nothing says why. So the host says it: at startup, after each reload, in ``/api/rules``.
Agents are read from the store each time, since ``kefu-host agents add`` in another process changes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from kefu_host.chat.accounts import list_agents
from kefu_host.rules import RuleSet
from kefu_host.store import Store

log = structlog.get_logger("kefu_host.rules")

#: How ``sent_by`` names the configured fallback team (``chat.default_team``).
DEFAULT_TEAM = "chat.default_team"


@dataclass(frozen=True)
class UnstaffedTeam:
    """A team conversations are sent to, with what sends them there (rule ids, or ``chat.default_team``)."""

    team: str
    sent_by: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"team": self.team, "sent_by": list(self.sent_by)}


def destinations(ruleset: RuleSet, default_team: str) -> Mapping[str, tuple[str, ...]]:
    """Every team the set's ``assign_team``, ``transfer`` and ``overflow_to`` name, and the default team."""
    sent: dict[str, tuple[str, ...]] = dict(ruleset.routes)
    sent[default_team] = (*sent.get(default_team, ()), DEFAULT_TEAM)
    return sent


async def unstaffed_teams(store: Store, ruleset: RuleSet, default_team: str) -> tuple[UnstaffedTeam, ...]:
    """The destinations no enabled agent belongs to, by team name."""
    staffed = {team for agent in await list_agents(store) if not agent.disabled for team in agent.teams}
    sent = destinations(ruleset, default_team)
    return tuple(UnstaffedTeam(team, sent[team]) for team in sorted(sent) if team not in staffed)


async def report_unstaffed(store: Store, ruleset: RuleSet, default_team: str) -> None:
    """Log a warning naming the unstaffed teams, if any. Never raises: this is advice, not a check."""
    try:
        unstaffed = await unstaffed_teams(store, ruleset, default_team)
    except Exception as exc:  # the store may be down; routing works without this warning
        log.warning("teams_without_agents_unknown", error=repr(exc))
        return
    if unstaffed:
        log.warning(
            "teams_without_agents",
            revision=ruleset.revision,
            teams=[item.team for item in unstaffed],
            sent_by={item.team: list(item.sent_by) for item in unstaffed},
            hint="conversations sent there wait until an agent joins: kefu-host agents add NAME "
            + " ".join(f"--team {item.team}" for item in unstaffed),
        )
