"""Where a conversation should go: the interface the chat core asks, and the answer it gets.

The rules engine answers through :class:`Router`; without rules every conversation goes to ``chat.default_team``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from kefu_host.chat.values import ConversationView, CustomerView, MessageView

Trigger = Literal["open", "message", "event", "requeue"]
PRIORITY_NORMAL = 50


@dataclass(frozen=True)
class RouteDecision:
    team: str
    priority: int = PRIORITY_NORMAL
    prefer_agent: str | None = None
    #: move the conversation even when it is already assigned (e.g. sensitive words mid-chat)
    transfer: bool = False
    tags: tuple[str, ...] = ()
    auto_replies: tuple[str, ...] = ()
    fired: tuple[str, ...] = ()
    revision: str = "none"
    actions: tuple[dict[str, Any], ...] = field(default=())
    #: the rule that chose the team, for explanations
    team_rule: str | None = None


class Router(Protocol):
    async def decide(
        self, trigger: Trigger, conversation: ConversationView, customer: CustomerView, message: MessageView | None
    ) -> RouteDecision: ...


class DefaultRouter:
    """Routes everything to one team at normal priority."""

    def __init__(self, team: str) -> None:
        self.team = team

    async def decide(
        self, trigger: Trigger, conversation: ConversationView, customer: CustomerView, message: MessageView | None
    ) -> RouteDecision:
        return RouteDecision(team=self.team)
