"""Explaining a decision: every rule, whether it fired, and the value of each node of its condition.

This walks the syntax tree directly instead of running the compiled code, so it can report every node;
it follows the same semantics (tests hold the two to the same answers).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kefu_host.rules import nodes as n
from kefu_host.rules.decision import Decision
from kefu_host.rules.facts import dynamic_contains, folded_list, is_number, read_fact
from kefu_host.rules.matcher import words_found
from kefu_host.rules.regex import compile_regex, search
from kefu_host.rules.schema import Catalogue, FieldType

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
#: Stands for a fact that is absent (or None) in a :class:`NodeResult`.
MISSING = object()


@dataclass(frozen=True)
class NodeResult:
    """One condition node: its source text, its value, and for a predicate the fact it read."""

    text: str
    value: bool
    field: str | None = None
    fact: Any = MISSING
    matched: tuple[str, ...] = ()
    children: tuple[NodeResult, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text, "value": self.value}
        if self.field is not None:
            out["field"] = self.field
            out["fact"] = None if self.fact is MISSING else _jsonable(self.fact)
        if self.matched:
            out["matched"] = list(self.matched)
        if self.children:
            out["children"] = [child.to_dict() for child in self.children]
        return out


@dataclass(frozen=True)
class RuleExplanation:
    """``status`` is ``fired``, ``not matched``, ``skipped`` (its match-first group already matched)
    or ``not reached`` (an earlier rule said stop); ``condition`` is evaluated in every case."""

    rule_id: str
    priority: int
    group: str | None
    location: str
    status: str
    condition: NodeResult
    reason: str = ""

    @property
    def fired(self) -> bool:
        return self.status == "fired"

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule_id,
            "priority": self.priority,
            "group": self.group,
            "location": self.location,
            "status": self.status,
            "fired": self.fired,
            "reason": self.reason,
            "condition": self.condition.to_dict(),
        }


@dataclass(frozen=True)
class Explanation:
    revision: str
    rules: tuple[RuleExplanation, ...]
    decision: Decision
    facts: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "facts": _jsonable(dict(self.facts)),
            "rules": [rule.to_dict() for rule in self.rules],
            "decision": self.decision.to_dict(),
        }


class Explainer:
    """Evaluates conditions node by node against facts."""

    def __init__(self, catalogue: Catalogue, lists: Mapping[str, tuple[str, ...]]) -> None:
        self.catalogue = catalogue
        self.lists = lists

    def rules(
        self,
        rules: tuple[n.Rule, ...],
        order: tuple[int, ...],
        groups: Mapping[str, n.GroupDef],
        facts: Mapping[str, Any],
    ) -> tuple[RuleExplanation, ...]:
        matched_groups: dict[str, str] = {}
        stopped_by: str | None = None
        out = []
        for index in order:
            rule = rules[index]
            result = self.node(rule.cond, facts)
            group = groups.get(rule.group or "")
            first = group is not None and group.mode == "first"
            if stopped_by is not None:
                status, reason = "not reached", f"{stopped_by} said stop"
            elif first and rule.group in matched_groups:
                status, reason = "skipped", f"group {rule.group} already matched {matched_groups[rule.group]}"
            elif result.value:
                status, reason = "fired", ""
                if first and rule.group is not None:
                    matched_groups[rule.group] = rule.id
                if any(action.name == "stop" for action in rule.actions):
                    stopped_by = rule.id
            else:
                status, reason = "not matched", ""
            location = f"{rule.loc.path}:{rule.loc.line}:{rule.loc.column}"
            out.append(RuleExplanation(rule.id, rule.priority, rule.group, location, status, result, reason))
        return tuple(out)

    def node(self, cond: n.Cond, facts: Mapping[str, Any]) -> NodeResult:
        if isinstance(cond, n.Const):
            return NodeResult(cond.text, cond.value)
        if isinstance(cond, n.AllOf | n.AnyOf):
            children = tuple(self.node(item, facts) for item in cond.items)
            test = all if isinstance(cond, n.AllOf) else any
            return NodeResult(cond.text, test(c.value for c in children), children=children)
        if isinstance(cond, n.Negation):
            child = self.node(cond.item, facts)
            return NodeResult(cond.text, not child.value, children=(child,))
        value = read_fact(facts, cond.field)
        verdict, matched = self.predicate(cond, value)
        return NodeResult(cond.text, verdict, str(cond.field), MISSING if value is None else value, matched)

    def predicate(self, cond: n.Predicate, value: Any) -> tuple[bool, tuple[str, ...]]:
        if isinstance(cond, n.Present):
            return (value is None) if cond.negated else (value is not None), ()
        if isinstance(cond, n.Bare):
            return value is True, ()
        if isinstance(cond, n.Compare):
            return _fits(value, cond.value.kind) and _OPS[cond.op](value, cond.value.value), ()
        if isinstance(cond, n.InList):
            kind = cond.values[0].kind if cond.values else "string"
            inside = value in frozenset(lit.value for lit in cond.values) if _fits(value, kind) else None
            return (inside is not None and inside != cond.negated), ()
        ftype = self.type_of(cond.field)
        if isinstance(cond, n.Matches):
            return type(value) is str and search(compile_regex(str(cond.pattern.value)), value), ()
        if isinstance(cond, n.Contains):
            word = str(cond.value.value).casefold()
            if ftype is FieldType.STRING:
                return type(value) is str and word in value.casefold(), ()
            if ftype is FieldType.STRING_LIST:
                folded = folded_list(value)
                return folded is not None and word in folded, ()
            return dynamic_contains(value, word), ()
        words = self.words(cond)
        if type(value) is str and ftype in (None, FieldType.STRING):
            found = tuple(words_found(value, words))
            return bool(found), found
        folded = folded_list(value) if ftype in (None, FieldType.STRING_LIST) else None
        hits = tuple(sorted(folded & {w.casefold() for w in words if w})) if folded is not None else ()
        return bool(hits), hits[:10]

    def type_of(self, ref: n.FieldRef) -> FieldType | None:
        return None if ref.key is not None else self.catalogue.fields[ref.name].type

    def words(self, cond: n.ContainsAny) -> tuple[str, ...]:
        if cond.list_name is not None:
            return self.lists.get(cond.list_name, ())
        return tuple(str(lit.value) for lit in cond.words or ())


def _fits(value: Any, kind: str) -> bool:
    if kind in ("number", "duration"):
        return is_number(value)
    return type(value) is (str if kind == "string" else bool)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)
