"""Where a conversation should go: the interface the chat core asks, and the answer it gets.

The rules engine answers through :class:`Router` (:class:`kefu_host.routing.router.RulesRouter`); a decision that
names no team leaves the conversation where it is, which for a new conversation is ``chat.default_team``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol

from kefu_host.chat.values import ConversationView, CustomerView, MessageView

if TYPE_CHECKING:
    from kefu_host.rules.explain import Explanation

Trigger = Literal["open", "message", "event", "requeue"]
PRIORITY_NORMAL = 50


class RouteDecision(NamedTuple):
    #: None keeps the conversation's team
    team: str | None
    #: None keeps the conversation's priority
    priority: int | None = None
    prefer_agent: str | None = None
    #: move the conversation even when it is already assigned (e.g. sensitive words mid-chat)
    transfer: bool = False
    tags: tuple[str, ...] = ()
    auto_replies: tuple[str, ...] = ()
    fired: tuple[str, ...] = ()
    revision: str = "none"
    #: what the rules asked for; each has ``to_dict()`` (serialised only when the decision is stored)
    actions: tuple[Any, ...] = ()
    #: the rule that chose the team, for explanations
    team_rule: str | None = None


class Router(Protocol):
    async def decide(
        self, trigger: Trigger, conversation: ConversationView, customer: CustomerView, message: MessageView | None
    ) -> RouteDecision: ...

    async def explain(
        self, conversation: ConversationView, customer: CustomerView, message: MessageView | None
    ) -> Explanation | None:
        """The decision :meth:`decide` would make now, rule by rule, without applying it (None: no rules)."""
        ...
