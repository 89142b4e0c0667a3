"""Semantic checks: every name resolves, every operator and argument fits its type, ids are unique.

Checking goes on after an error so one run reports as much as it can.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from kefu_host.rules import nodes as n
from kefu_host.rules.errors import RuleError, did_you_mean
from kefu_host.rules.regex import RegexError, compile_regex
from kefu_host.rules.syntax import Names
from kefu_host.rules.schema import PRIORITY_LEVELS, TEAM_ACTIONS, ArgType, Catalogue, FieldSpec, FieldType

#: What a field reference evaluates to; None stands for a map value, whose type is only known at run time.
Resolved = FieldType | None

TYPE_NAMES = {
    FieldType.NUMBER: "number",
    FieldType.STRING: "string",
    FieldType.BOOL: "bool",
    FieldType.DURATION: "duration",
    FieldType.STRING_LIST: "string list",
    FieldType.MAP: "map",
}
_LITERAL_FOR = {
    FieldType.NUMBER: "number",
    FieldType.STRING: "string",
    FieldType.BOOL: "bool",
    FieldType.DURATION: "duration",
}
_ORDERING = {"<", "<=", ">", ">="}
_ARG_WORDS = {
    ArgType.TEAM: "a team",
    ArgType.TEXT: "a text",
    ArgType.STRING: "a string or string field",
    ArgType.NUMBER: "a number",
    ArgType.DURATION: "a duration",
    ArgType.BOOL: "true or false",
    ArgType.PRIORITY: "a priority",
}


@dataclass(frozen=True)
class CheckedSet:
    """What the compiler needs, in file order."""

    rules: tuple[n.Rule, ...]
    groups: Mapping[str, n.GroupDef]
    tests: tuple[n.TestDef, ...]


class Checker:
    """Checks parsed files against a catalogue; ``teams`` None skips team names. ``unparsed`` are the names
    files that failed to parse define: a reference to one is not reported as unknown, since it is only a
    side effect of that file's syntax error, which is reported first."""

    def __init__(
        self,
        catalogue: Catalogue,
        teams: Collection[str] | None,
        lists: Mapping[str, tuple[str, ...]],
        unparsed: Names = Names(),
    ) -> None:
        self.catalogue = catalogue
        self.teams = teams
        self.lists = lists
        self.unparsed = unparsed
        self.errors: list[RuleError] = []
        self._source: n.SourceFile | None = None

    # ---- entry point ---------------------------------------------------------------------------------
    def check(self, files: Iterable[n.SourceFile]) -> CheckedSet:
        files = list(files)
        groups: dict[str, n.GroupDef] = {}
        rules: dict[str, n.Rule] = {}
        tests: dict[str, n.TestDef] = {}
        for source in files:
            self._source = source
            for item in source.items:
                if isinstance(item, n.GroupDef):
                    self._unique(groups, item.name, item, "group")
        for source in files:
            self._source = source
            for item in source.items:
                if isinstance(item, n.Rule):
                    self.rule(item, groups)
                    self._unique(rules, item.id, item, "rule id")
        for source in files:
            self._source = source
            for item in source.items:
                if isinstance(item, n.TestDef):
                    self.test(item, rules)
                    self._unique(tests, item.name, item, "test")
        ordered = tuple(item for source in files for item in source.items if isinstance(item, n.Rule))
        return CheckedSet(ordered, groups, tuple(tests.values()))

    def fail(self, loc: n.Loc, message: str) -> None:
        line = self._source.line(loc.line) if self._source and self._source.path == loc.path else ""
        self.errors.append(RuleError(loc.path, loc.line, loc.column, message, line))

    def _unique(
        self, seen: dict[str, Any], name: str, item: n.Rule | n.GroupDef | n.TestDef, what: str
    ) -> None:
        if name in seen:
            first = seen[name].loc
            shown = f'"{name}"' if what == "test" else name
            self.fail(
                item.loc,
                f"duplicate {what} {shown} (first defined at {first.path}:{first.line}:{first.column})",
            )
        else:
            seen[name] = item

    # ---- rules ---------------------------------------------------------------------------------------
    def rule(self, rule: n.Rule, groups: Mapping[str, n.GroupDef]) -> None:
        if rule.group is not None and rule.group not in groups and rule.group not in self.unparsed.groups:
            self.fail(
                rule.group_loc or rule.loc, f"unknown group {rule.group}{did_you_mean(rule.group, groups)}"
            )
        self.cond(rule.cond)
        team_action: n.Action | None = None
        for action in rule.actions:
            self.action(action, literal_only=False)
            if action.name in TEAM_ACTIONS:
                if team_action is not None:
                    where = f"{team_action.loc.line}:{team_action.loc.column}"
                    self.fail(
                        action.loc, f"a rule sets the team at most once ({team_action.name} at {where})"
                    )
                team_action = action

    def action(self, action: n.Action | n.ExpectAction, literal_only: bool) -> None:
        spec = self.catalogue.actions.get(action.name)
        if spec is None:
            self.fail(
                action.loc, f"unknown action {action.name}{did_you_mean(action.name, self.catalogue.actions)}"
            )
            return
        if len(action.args) != len(spec.args):
            wanted = ", ".join(_ARG_WORDS[a] for a in spec.args)
            count = len(spec.args)
            detail = f" ({wanted})" if wanted else ""
            self.fail(
                action.loc,
                f"{action.name} takes {count} argument{'s' * (count != 1)}{detail}, got {len(action.args)}",
            )
            return
        for arg, kind in zip(action.args, spec.args, strict=True):
            if isinstance(arg, n.FieldRef) and literal_only:
                self.fail(arg.loc, "expectations take literal values, not fields")
            else:
                self.argument(action.name, arg, kind)

    def argument(self, action: str, arg: n.Lit | n.FieldRef, kind: ArgType) -> None:
        if isinstance(arg, n.FieldRef):
            field_kinds = {
                ArgType.STRING: FieldType.STRING,
                ArgType.NUMBER: FieldType.NUMBER,
                ArgType.DURATION: FieldType.DURATION,
                ArgType.BOOL: FieldType.BOOL,
            }
            resolved = self.field(arg)
            if kind not in field_kinds:
                self.fail(arg.loc, f"{action} takes {_ARG_WORDS[kind]} in quotes, not a field")
            elif resolved is not False and resolved is not None and resolved is not field_kinds[kind]:
                self.fail(
                    arg.loc, f"{action} takes {_ARG_WORDS[kind]}, but {arg} is a {TYPE_NAMES[resolved]} field"
                )
            return
        if kind is ArgType.PRIORITY:
            ok = (arg.kind == "string" and arg.value in PRIORITY_LEVELS) or (
                arg.kind == "number" and isinstance(arg.value, int)
            )
            if not ok:
                self.fail(
                    arg.loc, f"{action} takes low, normal, high, urgent or a whole number, got {arg.text}"
                )
            return
        wanted = {ArgType.NUMBER: "number", ArgType.DURATION: "duration", ArgType.BOOL: "bool"}.get(
            kind, "string"
        )
        if arg.kind != wanted:
            self.fail(arg.loc, f"{action} takes {_ARG_WORDS[kind]}, got {arg.kind} {arg.text}")
        elif kind is ArgType.TEAM and self.teams is not None and arg.value not in self.teams:
            close = did_you_mean(str(arg.value), self.teams, '"{}"')
            self.fail(arg.loc, f'unknown team "{arg.value}"{close}')

    # ---- fields and conditions -----------------------------------------------------------------------
    def field(self, ref: n.FieldRef, whole_map: bool = False) -> Resolved | Literal[False]:
        """The type ``ref`` evaluates to, or False after reporting why it is wrong."""
        spec: FieldSpec | None = self.catalogue.fields.get(ref.name)
        if spec is None:
            self.fail(ref.loc, f"unknown field {ref.name}{did_you_mean(ref.name, self.catalogue.fields)}")
            return False
        if spec.param is not None:
            if ref.param is None:
                self.fail(ref.loc, f'{ref.name} needs a {spec.param}, like {ref.name}("{_example(spec)}")')
                return False
            if spec.param == "team" and self.teams is not None and ref.param not in self.teams:
                close = did_you_mean(ref.param, self.teams, '"{}"')
                self.fail(ref.loc, f'unknown team "{ref.param}"{close}')
                return False
        elif ref.param is not None:
            self.fail(ref.loc, f"{ref.name} takes no argument")
            return False
        if spec.type is FieldType.MAP:
            if ref.key is None and not whole_map:
                self.fail(ref.loc, f'{ref.name} is a map, read one key like {ref.name}["plan"]')
                return False
            return None if ref.key is not None else FieldType.MAP
        if ref.key is not None:
            self.fail(ref.loc, f"{ref.name} is a {TYPE_NAMES[spec.type]} field, not a map")
            return False
        return spec.type

    def cond(self, cond: n.Cond) -> None:
        if isinstance(cond, n.AllOf | n.AnyOf):
            for item in cond.items:
                self.cond(item)
        elif isinstance(cond, n.Negation):
            self.cond(cond.item)
        elif isinstance(cond, n.Present):
            self.field(cond.field, whole_map=True)
        elif not isinstance(cond, n.Const):
            resolved = self.field(cond.field)
            if resolved is not False:
                self.predicate(cond, resolved)

    def predicate(self, cond: n.Predicate, ftype: Resolved) -> None:
        field = cond.field
        if isinstance(cond, n.Bare):
            if ftype not in (None, FieldType.BOOL):
                self.fail(
                    cond.loc, f"{field} is a {TYPE_NAMES[ftype]} field; write a comparison like {field} > 0"
                )
        elif isinstance(cond, n.Compare):
            self.compare(cond, ftype)
        elif isinstance(cond, n.InList):
            word = "not in" if cond.negated else "in"
            if ftype not in (None, FieldType.NUMBER, FieldType.STRING, FieldType.DURATION):
                self.fail(cond.loc, f"operator {word} does not apply to a {TYPE_NAMES[ftype]} field")
                return
            kinds = {lit.kind for lit in cond.values}
            expected = _LITERAL_FOR[ftype] if ftype is not None else None
            for lit in cond.values:
                if expected is not None and lit.kind != expected:
                    self.fail(
                        lit.loc, f"expected a {expected} in the list for {field}, got {lit.kind} {lit.text}"
                    )
            if expected is None and len(kinds) > 1:
                self.fail(cond.loc, "list values must all be of one type")
        elif isinstance(cond, n.Contains | n.ContainsAny | n.Matches):
            self.text_predicate(cond, ftype)

    def compare(self, cond: n.Compare, ftype: Resolved) -> None:
        lit = cond.value
        if ftype is None:
            if cond.op in _ORDERING and lit.kind not in ("number", "duration"):
                self.fail(cond.loc, f"operator {cond.op} does not apply to a {lit.kind}")
            return
        if ftype not in _LITERAL_FOR or (
            cond.op in _ORDERING and ftype in (FieldType.STRING, FieldType.BOOL)
        ):
            self.fail(cond.loc, f"operator {cond.op} does not apply to a {TYPE_NAMES[ftype]} field")
            return
        expected = _LITERAL_FOR[ftype]
        if lit.kind != expected:
            hint = " (like 30s or 2m)" if expected == "duration" else ""
            self.fail(
                lit.loc,
                f"expected a {expected}{hint} to compare with {cond.field}, got {lit.kind} {lit.text}",
            )

    def text_predicate(self, cond: n.Contains | n.ContainsAny | n.Matches, ftype: Resolved) -> None:
        op = {n.Contains: "contains", n.ContainsAny: "contains_any", n.Matches: "matches"}[type(cond)]
        allowed = (
            (None, FieldType.STRING) if op == "matches" else (None, FieldType.STRING, FieldType.STRING_LIST)
        )
        if ftype is not None and ftype not in allowed:
            self.fail(cond.loc, f"operator {op} does not apply to a {TYPE_NAMES[ftype]} field")
            return
        if isinstance(cond, n.Contains):
            if cond.value.kind != "string":
                self.fail(cond.value.loc, f"contains takes a string, got {cond.value.kind} {cond.value.text}")
        elif isinstance(cond, n.Matches):
            try:
                compile_regex(str(cond.pattern.value))
            except RegexError as exc:
                where = _at_fragment(cond.pattern, exc.fragment)
                self.fail(where, f"invalid regex {cond.pattern.text}: {exc.problem}")
        elif cond.list_name is not None:
            if cond.list_name not in self.lists and cond.list_name not in self.unparsed.lists:
                close = did_you_mean(cond.list_name, self.lists, "${}")
                self.fail(cond.list_loc or cond.loc, f"unknown list ${cond.list_name}{close}")
        else:
            for lit in cond.words or ():
                if lit.kind != "string":
                    self.fail(lit.loc, f"contains_any takes strings, got {lit.kind} {lit.text}")

    # ---- inline tests --------------------------------------------------------------------------------
    def test(self, test: n.TestDef, rules: Mapping[str, n.Rule]) -> None:
        seen: set[str] = set()
        for fact in test.facts:
            key = str(fact.field)
            if key in seen:
                self.fail(fact.loc, f"{key} is given twice")
            seen.add(key)
            self.fact(fact)
        for expectation in test.expectations:
            if isinstance(expectation, n.ExpectFired):
                if expectation.rule_id not in rules and expectation.rule_id not in self.unparsed.rules:
                    close = did_you_mean(expectation.rule_id, rules)
                    self.fail(expectation.loc, f"unknown rule {expectation.rule_id}{close}")
            elif expectation.name == "stop":
                self.fail(expectation.loc, "stop cannot be expected; expect the rules that fired instead")
            else:
                self.action(expectation, literal_only=True)

    def fact(self, fact: n.Fact) -> None:
        resolved = self.field(fact.field)
        if resolved is False:
            return
        value = fact.value
        if resolved is FieldType.STRING_LIST:
            if not isinstance(value, tuple) or any(lit.kind != "string" for lit in value):
                self.fail(fact.loc, f'{fact.field} is a string list field, give a list like ["a", "b"]')
            return
        if isinstance(value, tuple):
            shown = TYPE_NAMES[resolved] if resolved is not None else "single"
            self.fail(fact.loc, f"{fact.field} takes a {shown} value, not a list")
            return
        if resolved is not None and value.kind != _LITERAL_FOR[resolved]:
            expected = _LITERAL_FOR[resolved]
            self.fail(value.loc, f"expected a {expected} for {fact.field}, got {value.kind} {value.text}")


def _at_fragment(pattern: n.Lit, fragment: str) -> n.Loc:
    """Where in the pattern's string literal the part RE2 complained about starts, or the literal itself."""
    # The literal is on one line (strings cannot span lines) and keeps a regex's backslashes as written.
    offset = pattern.text.find(fragment) if fragment else -1
    if offset < 0:
        return pattern.loc
    loc = pattern.loc
    return n.Loc(loc.path, loc.line, loc.column + offset, loc.start + offset, loc.end)


def _example(spec: FieldSpec) -> str:
    return "support" if spec.param == "team" else "..."
