"""An immutable, compiled rule set: the one object the host swaps on reload and asks for decisions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kefu_host.rules import nodes as n
from kefu_host.rules.checker import CheckedSet
from kefu_host.rules.compiler import Program
from kefu_host.rules.decision import Decision, make_decision
from kefu_host.rules.explain import Explainer, Explanation


@dataclass(frozen=True)
class RuleInfo:
    """What ops and the admin API see of one rule."""

    id: str
    priority: int
    group: str | None
    desc: str | None
    owner: str | None
    location: str
    actions: tuple[str, ...]
    is_default: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "priority": self.priority,
            "group": self.group,
            "desc": self.desc,
            "owner": self.owner,
            "location": self.location,
            "actions": list(self.actions),
            "default": self.is_default,
        }


def is_default_rule(rule: n.Rule, groups: Mapping[str, n.GroupDef]) -> bool:
    """A default rule catches what nothing else did: its id starts with ``default.``, or its condition is
    literally ``true`` in a ``match first`` group (so it fires whenever no earlier rule of the group did)."""
    if rule.id.startswith("default."):
        return True
    group = groups.get(rule.group or "")
    return isinstance(rule.cond, n.Const) and rule.cond.value and group is not None and group.mode == "first"


class _Engine:
    """The compiled parts a decision needs, kept together and out of the dataclass's repr."""

    __slots__ = ("checked", "explainer", "order", "run")

    def __init__(self, checked: CheckedSet, program: Program, explainer: Explainer) -> None:
        self.checked = checked
        self.run = program.run
        self.order = program.order
        self.explainer = explainer


@dataclass(frozen=True, eq=False)
class RuleSet:
    """Rules compiled from one snapshot of the rules directory. Safe to share between tasks and threads."""

    revision: str
    directory: str
    #: Rules in evaluation order.
    rules: tuple[RuleInfo, ...]
    #: Group name to ``"first"`` or ``"all"``.
    groups: Mapping[str, str]
    #: List name to how many words it holds.
    lists: Mapping[str, int]
    #: Inline test blocks, for ``kefu-host rules test``.
    tests: tuple[n.TestDef, ...]
    #: Fact keys the rules read: gather only these (e.g. skip queue statistics nobody reads).
    fields_used: frozenset[str]
    #: Parameters and keys read per field, e.g. ``{"queue.length": frozenset({"support"})}``.
    field_params: Mapping[str, frozenset[str]]
    #: Every file the revision covers (relative paths).
    files: tuple[str, ...] = ()
    _engine: _Engine | None = field(default=None, repr=False)

    @classmethod
    def build(
        cls,
        revision: str,
        directory: str,
        checked: CheckedSet,
        program: Program,
        explainer: Explainer,
        lists: Mapping[str, tuple[str, ...]],
        files: tuple[str, ...],
    ) -> RuleSet:
        infos = tuple(_info(checked.rules[i], checked.groups) for i in program.order)
        return cls(
            revision=revision,
            directory=directory,
            rules=infos,
            groups={name: group.mode for name, group in checked.groups.items()},
            lists={name: len(words) for name, words in lists.items()},
            tests=checked.tests,
            fields_used=program.fields_used,
            field_params=program.field_params,
            files=files,
            _engine=_Engine(checked, program, explainer),
        )

    @property
    def rule_ids(self) -> frozenset[str]:
        return frozenset(rule.id for rule in self.rules)

    @property
    def default_rules(self) -> tuple[str, ...]:
        return tuple(rule.id for rule in self.rules if rule.is_default)

    def decide(self, facts: Mapping[str, Any]) -> Decision:
        """Evaluate the rules against ``facts``; never does I/O."""
        engine = self._engine
        assert engine is not None, "a RuleSet is built by the loader"
        return make_decision(self.revision, *engine.run(facts))

    def explain(self, facts: Mapping[str, Any]) -> Explanation:
        """Every rule with its status and the value of each condition node, plus the decision."""
        engine = self._engine
        assert engine is not None, "a RuleSet is built by the loader"
        checked = engine.checked
        rules = engine.explainer.rules(checked.rules, engine.order, checked.groups, facts)
        return Explanation(self.revision, rules, self.decide(facts), dict(facts))

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description for the admin API."""
        return {
            "revision": self.revision,
            "directory": self.directory,
            "rules": [rule.to_dict() for rule in self.rules],
            "groups": dict(self.groups),
            "lists": dict(self.lists),
            "tests": [test.name for test in self.tests],
            "fields_used": sorted(self.fields_used),
            "files": list(self.files),
        }


def _info(rule: n.Rule, groups: Mapping[str, n.GroupDef]) -> RuleInfo:
    return RuleInfo(
        rule.id,
        rule.priority,
        rule.group,
        rule.desc,
        rule.owner,
        f"{rule.loc.path}:{rule.loc.line}:{rule.loc.column}",
        tuple(action.name for action in rule.actions),
        is_default_rule(rule, groups),
    )
