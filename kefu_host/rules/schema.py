"""The closed, typed catalogue of fields rules may read and actions rules may take.

Rules can only name what the catalogue declares; plugins add their own fields and actions through
:meth:`Catalogue.extended`, so a typo is a load error instead of a rule that silently never fires.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")
_ACTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Words the grammar reserves; an action with one of these names could never be written.
KEYWORDS = frozenset(
    "list file group match first all rule priority in desc owner when then end and or not contains "
    "contains_any matches is present true false test given expect fired".split()
)


class FieldType(enum.Enum):
    """What a fact holds. Durations are float seconds; maps are read by key and compared dynamically."""

    NUMBER = "number"
    STRING = "string"
    BOOL = "bool"
    DURATION = "duration"
    STRING_LIST = "string_list"
    MAP = "map"


class ArgType(enum.Enum):
    """What an action argument may be."""

    #: A string literal naming a configured team.
    TEAM = "team"
    #: A string literal.
    TEXT = "text"
    #: A string literal or a string field, read from the facts when the rule fires.
    STRING = "string"
    #: A number literal or a number field.
    NUMBER = "number"
    #: A duration literal or a duration field.
    DURATION = "duration"
    #: ``true``/``false`` or a bool field.
    BOOL = "bool"
    #: ``"low"``, ``"normal"``, ``"high"``, ``"urgent"`` or an integer.
    PRIORITY = "priority"


#: Named priorities of ``set_priority``; a decision always carries the number.
PRIORITY_LEVELS: Mapping[str, int] = MappingProxyType({"low": 10, "normal": 50, "high": 100, "urgent": 200})


@dataclass(frozen=True)
class FieldSpec:
    """A fact rules may read. ``param`` names the argument of a field like ``queue.length("team")``."""

    name: str
    type: FieldType
    doc: str
    param: str | None = None

    def __post_init__(self) -> None:
        if not _FIELD_NAME.fullmatch(self.name):
            raise ValueError(f"field name {self.name!r} must be dotted, like 'ticket.open_count'")
        if self.param is not None and self.type is FieldType.MAP:
            raise ValueError(f"field {self.name}: a map field takes a key, not a parameter")


@dataclass(frozen=True)
class ActionSpec:
    """An action rules may take, with the type of each of its arguments."""

    name: str
    args: tuple[ArgType, ...]
    doc: str

    def __post_init__(self) -> None:
        if not _ACTION_NAME.fullmatch(self.name) or self.name in KEYWORDS:
            raise ValueError(f"action name {self.name!r} must be a plain word that is not a keyword")


#: Actions that pick the conversation's team; a rule may use at most one of them.
TEAM_ACTIONS: Mapping[str, str] = MappingProxyType(
    {"assign_team": "assign", "transfer": "transfer", "overflow_to": "overflow"}
)
#: Actions the decision resolves itself; every other action is reported as a plugin action.
CORE_ACTION_NAMES = frozenset({*TEAM_ACTIONS, "prefer_agent", "set_priority", "tag", "auto_reply", "stop"})

_N, _S, _B, _D, _L, _M = (
    FieldType.NUMBER,
    FieldType.STRING,
    FieldType.BOOL,
    FieldType.DURATION,
    FieldType.STRING_LIST,
    FieldType.MAP,
)

CORE_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("customer.uid", _S, "The business system's user id, when the visitor is identified."),
    FieldSpec("customer.name", _S, "Display name."),
    FieldSpec("customer.email", _S, "Email address."),
    FieldSpec("customer.ltv", _N, "Lifetime value in the business's currency."),
    FieldSpec("customer.vip_level", _N, "VIP level from the business system (0 = none)."),
    FieldSpec("customer.tags", _L, "Tags on the customer profile."),
    FieldSpec("customer.attributes", _M, 'Free-form profile attributes, read as customer.attributes["key"].'),
    FieldSpec("customer.owner", _S, "Name of the agent who owns this customer."),
    FieldSpec(
        "customer.identified", _B, "True when the business backend vouched for the visitor's identity."
    ),
    FieldSpec("message.text", _S, "Text of the message being routed."),
    FieldSpec("message.channel", _S, 'Channel the message came in on ("web", "app", ...).'),
    FieldSpec("message.lang", _S, 'Language of the message or visitor ("zh", "en", ...).'),
    FieldSpec("conversation.channel", _S, "Channel the conversation started on."),
    FieldSpec("conversation.wait_time", _D, "How long the visitor has been waiting for an agent."),
    FieldSpec("conversation.transfers", _N, "How many times the conversation was transferred."),
    FieldSpec("conversation.status", _S, 'Conversation status ("queued", "assigned", "closed").'),
    FieldSpec("conversation.team", _S, "Team the conversation is assigned to, if any."),
    FieldSpec("queue.length", _N, "Conversations waiting in a team's queue.", param="team"),
    FieldSpec("queue.oldest_wait", _D, "Wait of the oldest conversation in a team's queue.", param="team"),
    FieldSpec("queue.online_agents", _N, "Agents of a team who are online.", param="team"),
    FieldSpec("queue.free_capacity", _N, "Free chat slots across a team's online agents.", param="team"),
    FieldSpec("time.hour", _N, "Hour of the day, 0-23, in rules.timezone."),
    FieldSpec("time.weekday", _S, 'Day of the week, "mon" .. "sun", in rules.timezone.'),
)

_A = ArgType
CORE_ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("assign_team", (_A.TEAM,), "Route a queued conversation to a team."),
    ActionSpec(
        "transfer", (_A.TEAM,), "Like assign_team, and also move a conversation that is already assigned."
    ),
    ActionSpec("overflow_to", (_A.TEAM,), "Route to an overflow team; the decision marks it as overflow."),
    ActionSpec(
        "prefer_agent", (_A.STRING,), "Offer the conversation to this agent first, if they can take it."
    ),
    ActionSpec(
        "set_priority",
        (_A.PRIORITY,),
        "Queue priority: low=10, normal=50, high=100, urgent=200, or a number.",
    ),
    ActionSpec("tag", (_A.TEXT,), "Add a tag to the conversation."),
    ActionSpec("auto_reply", (_A.TEXT,), "Send this text to the visitor."),
    ActionSpec("stop", (), "Evaluate no further rules after this one."),
)


@dataclass(frozen=True)
class Catalogue:
    """Fields and actions by name: :meth:`core` builds the core one, :meth:`extended` adds plugin ones."""

    fields: Mapping[str, FieldSpec] = field(default_factory=dict)
    actions: Mapping[str, ActionSpec] = field(default_factory=dict)

    @classmethod
    def core(cls) -> Catalogue:
        return cls(
            MappingProxyType({f.name: f for f in CORE_FIELDS}),
            MappingProxyType({a.name: a for a in CORE_ACTIONS}),
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Sent to the worker process that builds big rule sets. Mapping proxies do not pickle, and a plugin's
        # subclass of a spec lives in a module that process may not import, so plain specs travel instead.
        fields = tuple(FieldSpec(f.name, f.type, f.doc, f.param) for f in self.fields.values())
        actions = tuple(ActionSpec(a.name, tuple(a.args), a.doc) for a in self.actions.values())
        return (_catalogue, (fields, actions))

    def extended(self, fields: Iterable[FieldSpec] = (), actions: Iterable[ActionSpec] = ()) -> Catalogue:
        """A new catalogue with these added. A name that is already taken raises ValueError."""
        new_fields = dict(self.fields)
        for field_spec in fields:
            if field_spec.name in new_fields:
                raise ValueError(f"rule field {field_spec.name} is already defined")
            new_fields[field_spec.name] = field_spec
        new_actions = dict(self.actions)
        for action_spec in actions:
            if action_spec.name in new_actions:
                raise ValueError(f"rule action {action_spec.name} is already defined")
            new_actions[action_spec.name] = action_spec
        return Catalogue(MappingProxyType(new_fields), MappingProxyType(new_actions))


def _catalogue(fields: tuple[FieldSpec, ...], actions: tuple[ActionSpec, ...]) -> Catalogue:
    by_name = MappingProxyType({f.name: f for f in fields})
    return Catalogue(by_name, MappingProxyType({a.name: a for a in actions}))
