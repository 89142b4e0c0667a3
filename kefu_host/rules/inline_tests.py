"""Running the ``test "..." given ... expect ... end`` blocks of a rule set."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kefu_host.rules import nodes as n
from kefu_host.rules.decision import Decision, priority_value
from kefu_host.rules.errors import RuleError
from kefu_host.rules.ruleset import RuleSet
from kefu_host.rules.schema import TEAM_ACTIONS


@dataclass(frozen=True)
class TestResult:
    """One inline test: which rules fired and, when it failed, each expectation that did not hold."""

    __test__ = False  # not a pytest test class

    name: str
    loc: n.Loc
    fired: tuple[str, ...]
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


def facts_of(test: n.TestDef) -> dict[str, Any]:
    """The facts a test's ``given`` clause describes, shaped as the host would pass them."""
    facts: dict[str, Any] = {}
    for fact in test.facts:
        value = [lit.value for lit in fact.value] if isinstance(fact.value, tuple) else fact.value.value
        selector = fact.field.param if fact.field.param is not None else fact.field.key
        if selector is None:
            facts[fact.field.name] = value
        else:
            facts.setdefault(fact.field.name, {})[selector] = value
    return facts


def run_tests(ruleset: RuleSet, tests: Iterable[n.TestDef] | None = None) -> tuple[TestResult, ...]:
    results = []
    for test in ruleset.tests if tests is None else tests:
        decision = ruleset.decide(facts_of(test))
        failures = tuple(f for f in (_failure(e, decision) for e in test.expectations) if f)
        results.append(TestResult(test.name, test.loc, decision.fired, failures))
    return tuple(results)


def failures_as_errors(results: Iterable[TestResult], source_lines: dict[str, list[str]]) -> list[RuleError]:
    """A load error per failing test, at the test, naming what differed."""
    errors = []
    for result in results:
        if result.passed:
            continue
        lines = source_lines.get(result.loc.path, [])
        line = lines[result.loc.line - 1] if 0 < result.loc.line <= len(lines) else ""
        message = f'test "{result.name}" failed: ' + "; ".join(result.failures)
        errors.append(RuleError(result.loc.path, result.loc.line, result.loc.column, message, line))
    return errors


def untested_rules(ruleset: RuleSet, results: Iterable[TestResult]) -> tuple[str, ...]:
    """Rules no inline test made fire, in evaluation order."""
    fired = {rule for result in results for rule in result.fired}
    return tuple(rule.id for rule in ruleset.rules if rule.id not in fired)


def _failure(expectation: n.Expectation, decision: Decision) -> str | None:
    if isinstance(expectation, n.ExpectFired):
        did_fire = expectation.rule_id in decision.fired
        if did_fire != expectation.negated:
            return None
        fired = ", ".join(decision.fired) or "none"
        if expectation.negated:
            return f"expected {expectation.rule_id} not to fire, but it did (fired: {fired})"
        return f"expected {expectation.rule_id} to fire, but it did not (fired: {fired})"
    holds, actual = _action_holds(expectation, decision)
    if holds != expectation.negated:
        return None
    args = " ".join(_show(arg.value) for arg in expectation.args if isinstance(arg, n.Lit))
    wanted = f"{'not ' if expectation.negated else ''}{expectation.name} {args}".strip()
    return f"expected {wanted}, got {actual}"


def _action_holds(expectation: n.ExpectAction, decision: Decision) -> tuple[bool, str]:
    name = expectation.name
    args = tuple(arg.value for arg in expectation.args if isinstance(arg, n.Lit))
    if name in TEAM_ACTIONS:
        kind = TEAM_ACTIONS[name]
        # assign_team checks only the resulting team; transfer and overflow_to also check how it was set.
        holds = decision.team == args[0] and (name == "assign_team" or decision.routing == kind)
        actual = "no team" if decision.team is None else f"{decision.routing} to {_show(decision.team)}"
        if decision.team_rule:
            actual += f" (by {decision.team_rule})"
        return holds, actual
    if name == "set_priority":
        return decision.priority == priority_value(args[0]), f"priority {_show(decision.priority)}"
    if name == "prefer_agent":
        return decision.prefer_agent == args[0], f"prefer_agent {_show(decision.prefer_agent)}"
    if name == "tag":
        return args[0] in decision.tags, f"tags [{', '.join(map(_show, decision.tags))}]"
    if name == "auto_reply":
        return args[
            0
        ] in decision.auto_replies, f"auto replies [{', '.join(map(_show, decision.auto_replies))}]"
    same = [a for a in decision.plugin_actions if a.name == name]
    shown = "; ".join(f"{a.name} {' '.join(map(_show, a.args))}".strip() for a in same) or f"no {name}"
    return any(a.args == args for a in same), shown


def _show(value: Any) -> str:
    if value is None:
        return "none"
    return (
        f'"{value}"'
        if isinstance(value, str)
        else str(value).lower()
        if isinstance(value, bool)
        else str(value)
    )
