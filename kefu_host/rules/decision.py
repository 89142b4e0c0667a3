"""What a rule set decided for one set of facts, and how fired actions resolve into routing."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from kefu_host.rules import nodes as n
from kefu_host.rules.facts import read_fact
from kefu_host.rules.schema import CORE_ACTION_NAMES, PRIORITY_LEVELS, TEAM_ACTIONS

Routing = Literal["assign", "transfer", "overflow"]


@dataclass(frozen=True)
class FiredAction:
    """An action of a fired rule, with field arguments already read from the facts (None when missing)."""

    rule_id: str
    name: str
    args: tuple[Any, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule_id, "action": self.name, "args": list(self.args)}


@dataclass(frozen=True)
class Decision:
    """The outcome of one decision. ``fired`` and ``actions`` are in evaluation order.

    ``team`` comes from the first fired rule (so the highest priority) that assigns, transfers or
    overflows; ``routing`` says which, ``team_rule`` which rule. ``priority`` is the first
    ``set_priority``, ``prefer_agent`` the first one whose value was present.
    """

    revision: str
    fired: tuple[str, ...]
    actions: tuple[FiredAction, ...]
    team: str | None
    team_rule: str | None
    routing: Routing | None
    priority: int | None
    prefer_agent: str | None
    tags: tuple[str, ...]
    auto_replies: tuple[str, ...]
    plugin_actions: tuple[FiredAction, ...]

    @property
    def is_transfer(self) -> bool:
        return self.routing == "transfer"

    @property
    def is_overflow(self) -> bool:
        return self.routing == "overflow"

    def to_dict(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "fired": list(self.fired),
            "team": self.team,
            "team_rule": self.team_rule,
            "routing": self.routing,
            "priority": self.priority,
            "prefer_agent": self.prefer_agent,
            "tags": list(self.tags),
            "auto_replies": list(self.auto_replies),
            "plugin_actions": [a.to_dict() for a in self.plugin_actions],
            "actions": [a.to_dict() for a in self.actions],
        }


@dataclass(frozen=True, slots=True)
class Effect:
    """What one fired rule contributes to a decision; computed once when no argument reads a field."""

    actions: tuple[FiredAction, ...]
    #: (team, rule id, routing) when the rule assigns, transfers or overflows.
    team: tuple[str, str, Routing] | None
    priority: int | None
    prefer_agent: str | None
    tags: tuple[str, ...]
    auto_replies: tuple[str, ...]
    plugin_actions: tuple[FiredAction, ...]

    @classmethod
    def of(cls, actions: tuple[FiredAction, ...]) -> Effect:
        team = priority = prefer = None
        tags: list[str] = []
        replies: list[str] = []
        plugin: list[FiredAction] = []
        for action in actions:
            name, args = action.name, action.args
            if name in TEAM_ACTIONS:
                team = team or (args[0], action.rule_id, TEAM_ACTIONS[name])
            elif name == "set_priority":
                priority = priority if priority is not None else priority_value(args[0])
            elif name == "prefer_agent":
                prefer = prefer or (args[0] if isinstance(args[0], str) and args[0] else None)
            elif name == "tag":
                tags.append(args[0])
            elif name == "auto_reply":
                replies.append(args[0])
            elif name not in CORE_ACTION_NAMES:
                plugin.append(action)
        return cls(actions, team, priority, prefer, tuple(tags), tuple(replies), tuple(plugin))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class RuleActions:
    """One rule's actions; ``static`` is its effect when it does not depend on the facts."""

    rule_id: str
    actions: tuple[n.Action, ...]
    static: Effect | None

    @classmethod
    def of(cls, rule: n.Rule) -> RuleActions:
        dynamic = any(isinstance(arg, n.FieldRef) for action in rule.actions for arg in action.args)
        actions = tuple(a for a in rule.actions if a.name != "stop")
        static = None
        if not dynamic:
            static = Effect.of(tuple(FiredAction(rule.id, a.name, _literal_args(a)) for a in actions))
        return cls(rule.id, actions, static)

    def effect(self, facts: Mapping[str, Any]) -> Effect:
        if self.static is not None:
            return self.static
        return Effect.of(
            tuple(
                FiredAction(
                    self.rule_id,
                    action.name,
                    tuple(
                        read_fact(facts, arg) if isinstance(arg, n.FieldRef) else arg.value
                        for arg in action.args
                    ),
                )
                for action in self.actions
            )
        )


def _literal_args(action: n.Action) -> tuple[Any, ...]:
    return tuple(arg.value for arg in action.args if isinstance(arg, n.Lit))


def priority_value(arg: Any) -> int | None:
    """``set_priority``'s argument as a number; None for a value that is neither a level nor an int."""
    if isinstance(arg, str):
        return PRIORITY_LEVELS.get(arg)
    return arg if type(arg) is int else None


def make_decision(
    revision: str,
    ids: list[str],
    actions: list[FiredAction],
    team: tuple[str, str, Routing] | None,
    priority: int | None,
    prefer: str | None,
    tags: list[str],
    replies: list[str],
    plugin: list[FiredAction],
) -> Decision:
    """A :class:`Decision` from the effects of the fired rules, folded in evaluation order; ``tags`` and
    ``replies`` must already be free of repeats."""
    team_name, team_rule, routing = team or (None, None, None)
    # Filling __dict__ in one step: the frozen dataclass __init__ costs more than the rest of a decision.
    decision = object.__new__(Decision)
    object.__setattr__(decision, "__dict__", {
        "revision": revision, "fired": tuple(ids), "actions": tuple(actions), "team": team_name,
        "team_rule": team_rule, "routing": routing, "priority": priority, "prefer_agent": prefer,
        "tags": tuple(tags), "auto_replies": tuple(replies),
        "plugin_actions": tuple(plugin),
    })  # fmt: skip
    return decision


def resolve(revision: str, fired: Sequence[str], actions: Iterable[FiredAction]) -> Decision:
    """Fold fired actions, given in evaluation order, into one :class:`Decision` (what compiled rules do)."""
    by_rule: dict[str, list[FiredAction]] = {rule_id: [] for rule_id in fired}
    for action in actions:
        by_rule.setdefault(action.rule_id, []).append(action)
    folded: list[FiredAction] = []
    team = priority = prefer = None
    tags: list[str] = []
    replies: list[str] = []
    plugin: list[FiredAction] = []
    for group in by_rule.values():
        effect = Effect.of(tuple(group))
        folded += effect.actions
        team = team or effect.team
        priority = priority if priority is not None else effect.priority
        prefer = prefer or effect.prefer_agent
        tags += effect.tags
        replies += effect.auto_replies
        plugin += effect.plugin_actions
    tags, replies = list(dict.fromkeys(tags)), list(dict.fromkeys(replies))
    return make_decision(revision, list(by_rule), folded, team, priority, prefer, tags, replies, plugin)
