"""Compiling a checked rule set into one Python function that evaluates every rule in order and folds
the effects of those that fire.

The generated source only ever contains names this module invents (``v0``, ``C3``, ...), operators and
integers it computed; every value taken from rule text (field names, strings, numbers, regexes, word
lists, rule ids) is passed by reference in the function's globals. So rule text can never become code.
"""

from __future__ import annotations

import marshal
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kefu_host.rules import nodes as n
from kefu_host.rules.checker import CheckedSet
from kefu_host.rules.decision import RuleActions
from kefu_host.rules.program import CompiledRules, Program, Regex, Scanner, link
from kefu_host.rules.regex import required_literals
from kefu_host.rules.schema import Catalogue, FieldType

__all__ = ["Program", "compile_program", "compile_rules"]

_NUMBER_LITERALS = ("number", "duration")


def compile_rules(checked: CheckedSet, catalogue: Catalogue, lists: Mapping[str, tuple[str, ...]]) -> Program:
    """Compile and link rules that passed the checker; ``lists`` holds every named list's words."""
    return link(compile_program(checked, catalogue, lists))


def compile_program(
    checked: CheckedSet, catalogue: Catalogue, lists: Mapping[str, tuple[str, ...]]
) -> CompiledRules:
    """Compile rules that passed the checker into data; :func:`~kefu_host.rules.program.link` runs it."""
    return _Compiler(catalogue, lists).build(checked)


@dataclass
class _Var:
    """One field reference read by the rules, and which derived values the conditions need from it."""

    index: int
    ref: n.FieldRef
    type: FieldType | None
    flags: set[str]
    #: Word lists scanned on this field, each with its bit in the scan result (dict: O(1) per lookup)
    scanner_lists: dict[frozenset[str], int]


class _Compiler:
    def __init__(self, catalogue: Catalogue, lists: Mapping[str, tuple[str, ...]]) -> None:
        self.catalogue = catalogue
        self.lists = lists
        #: The generated function's constants by name (the helpers are added when it is linked).
        self.globals: dict[str, Any] = {}
        self.constants: dict[tuple[Any, ...], str] = {}
        self.vars: dict[str, _Var] = {}
        self.action_fields: list[n.FieldRef] = []
        self.seen_texts: set[tuple[str, str]] = set()
        self.repeats = False
        #: Text fields some rule scans with contains_any; regexes on them are pre-filtered by that scan.
        self.scanned: set[str] = set()

    def const(self, value: Any, prefix: str = "C") -> str:
        # Keyed by type too, so 1, 1.0 and True stay distinct constants.
        key = (prefix, type(value), value) if _hashable(value) else (prefix, id(value))
        name = self.constants.get(key)
        if name is None:
            name = self.constants[key] = f"{prefix}{len(self.constants)}"
            self.globals[name] = value
        return name

    def var(self, ref: n.FieldRef) -> _Var:
        key = str(ref)
        found = self.vars.get(key)
        if found is None:
            spec = self.catalogue.fields[ref.name]
            ftype = None if ref.key is not None else spec.type
            found = self.vars[key] = _Var(len(self.vars), ref, ftype, set(), {})
        return found

    # ---- conditions ----------------------------------------------------------------------------------
    def cond(self, cond: n.Cond) -> str:
        if isinstance(cond, n.Const):
            return "True" if cond.value else "False"
        if isinstance(cond, n.AllOf):
            return "(" + " and ".join(self.cond(c) for c in _cheapest_first(cond.items)) + ")"
        if isinstance(cond, n.AnyOf):
            return "(" + " or ".join(self.cond(c) for c in _cheapest_first(cond.items)) + ")"
        if isinstance(cond, n.Negation):
            return f"(not {self.cond(cond.item)})"
        var = self.var(cond.field)
        v = f"v{var.index}"
        if isinstance(cond, n.Present):
            return f"({v} is None)" if cond.negated else f"({v} is not None)"
        if isinstance(cond, n.Bare):
            return f"({v} is True)"
        if isinstance(cond, n.Compare):
            if cond.value.kind in _NUMBER_LITERALS and cond.op != "!=":
                # NaN stands in for a missing number: every one of these comparisons with it is false
                var.flags.add("x")
                return f"(x{var.index} {cond.op} {self.const(cond.value.value)})"
            flag = self.flag(var, cond.value.kind)
            return f"({flag} and {v} {cond.op} {self.const(cond.value.value)})"
        if isinstance(cond, n.InList):
            kind = cond.values[0].kind if cond.values else "string"
            flag = self.flag(var, kind)
            words = self.const(frozenset(lit.value for lit in cond.values))
            return f"({flag} and {v} {'not in' if cond.negated else 'in'} {words})"
        if isinstance(cond, n.Contains):
            return self.contains(var, self.const(str(cond.value.value).casefold()))
        if isinstance(cond, n.ContainsAny):
            return self.contains_any(var, self.list_words(cond))
        if isinstance(cond, n.Matches):
            regex = self.const(Regex(str(cond.pattern.value)), "R")
            var.flags.add("u")
            i = var.index
            # RE2 reads bytes: the text is encoded once per decision, by the first regex that runs on it
            text = f"(u{i} if u{i} is not None else (u{i} := _utf8(v{i})))"
            test = f"{self.flag(var, 'string')} and {regex}.search({text}) is not None"
            literals = required_literals(str(cond.pattern.value)) if str(cond.field) in self.scanned else ()
            if literals and var.type is FieldType.STRING:
                # The field is scanned anyway; a regex runs only when its fixed text is in the message.
                bits = sum(self.bit(var, frozenset({literal.casefold()})) for literal in literals)
                need = self.const(bits, "B")
                return f"({self.mask(var)} & {need} == {need} and {test})"
            return f"({test})"
        raise AssertionError(f"no compiler for {type(cond).__name__}")

    def flag(self, var: _Var, literal_kind: str) -> str:
        """A local that is True when the variable holds a value of the literal's type."""
        letter = "n" if literal_kind in _NUMBER_LITERALS else "s" if literal_kind == "string" else "b"
        var.flags.add(letter)
        return f"{letter}{var.index}"

    def contains(self, var: _Var, word: str) -> str:
        if var.type is FieldType.STRING:
            var.flags.add("t")
            return f"(t{var.index} is not None and {word} in t{var.index})"
        if var.type is FieldType.STRING_LIST:
            var.flags.add("l")
            return f"(l{var.index} is not None and {word} in l{var.index})"
        return f"_dyn_contains(v{var.index}, {word})"

    def bit(self, var: _Var, words: frozenset[str]) -> int:
        """The bit of ``words`` in the variable's scan result.

        Bits go into the code as named constants, never as literals: with thousands of lists on one field a
        bit has thousands of digits, which cost quadratic time to print and to parse (and Python refuses to
        print ints of over 4,300 digits at all)."""
        index = var.scanner_lists.setdefault(words, len(var.scanner_lists))
        return 1 << index

    def mask(self, var: _Var) -> str:
        """The variable's scan result, computed by the first condition that needs it."""
        i = var.index
        return f"(m{i} if m{i} is not None else (m{i} := S{i}(v{i})))"

    def contains_any(self, var: _Var, words: frozenset[str]) -> str:
        if var.type is FieldType.STRING:
            return f"({self.mask(var)} & {self.const(self.bit(var, words), 'B')} != 0)"
        folded = self.const(words)
        if var.type is FieldType.STRING_LIST:
            var.flags.add("l")
            return f"(l{var.index} is not None and not l{var.index}.isdisjoint({folded}))"
        scanner = self.const(Scanner((words,)), "W")
        return f"_dyn_contains_any(v{var.index}, {scanner}, {folded})"

    def list_words(self, cond: n.ContainsAny) -> frozenset[str]:
        raw = (
            self.lists.get(cond.list_name, ())
            if cond.list_name is not None
            else [w.value for w in cond.words or ()]
        )
        return frozenset(str(word).casefold() for word in raw if str(word))

    # ---- the whole function --------------------------------------------------------------------------
    def build(self, checked: CheckedSet) -> Program:
        for rule in checked.rules:
            self.scanned.update(
                str(c.field)
                for c in _predicates(rule.cond)
                if isinstance(c, n.ContainsAny) and c.field.key is None
            )
        order = sorted(range(len(checked.rules)), key=lambda i: (-checked.rules[i].priority, i))
        first_groups = {name for name, group in checked.groups.items() if group.mode == "first"}
        group_flags = {name: f"g{i}" for i, name in enumerate(sorted(first_groups))}
        body: list[str] = []
        for index in order:
            rule = checked.rules[index]
            test = self.cond(rule.cond)
            flag = group_flags.get(rule.group or "")
            body.append(f"    if {'not ' + flag + ' and ' if flag else ''}{test}:")
            body += self.fold(rule)
            if flag:
                body.append(f"        {flag} = True")
            if any(action.name == "stop" for action in rule.actions):
                body.append(f"        return {_OUTCOME}")
        lines = [
            "def run(facts):",
            "    get = facts.get",
            "    ids = []",
            "    fire = ids.append",
            "    acts = []",
            "    team = priority = prefer = None",
            "    tags = []",
            "    replies = []",
            "    plugin = []",
        ]
        lines += [f"    {flag} = False" for flag in group_flags.values()]
        lines += self.prelude()
        body.append(f"    return {_OUTCOME}")
        if self.repeats:
            # Some tag or reply appears in more than one place, so the lists may hold it twice.
            body = [line.replace(_OUTCOME, _OUTCOME.replace("tags, replies", _DEDUPED)) for line in body]
        source = "\n".join([*lines, *body, ""])
        # Safe to run: the source is built from generated names only (see the module docstring).
        code = marshal.dumps(compile(source, "<rules>", "exec"))
        used, params = self.fields_read()
        return CompiledRules(code, tuple(self.globals.items()), tuple(order), used, params, source)

    def fold(self, rule: n.Rule) -> list[str]:
        """Statements adding a fired rule's effect; a static effect adds only the parts it has."""
        actions = RuleActions.of(rule)
        lines = [f"        fire({self.const(rule.id)})"]
        effect = actions.static
        if effect is None:
            self.repeats = True  # values read from facts may repeat anything
            self.action_fields += [
                a for action in rule.actions for a in action.args if isinstance(a, n.FieldRef)
            ]
            lines.append(f"        e = {self.const(actions.effect, 'D')}(facts)")
            parts = {name: f"e.{name}" for name in _EFFECT_PARTS}
        else:
            for kind, values in (("tag", effect.tags), ("reply", effect.auto_replies)):
                for value in values:
                    self.repeats |= (kind, value) in self.seen_texts
                    self.seen_texts.add((kind, value))
            parts = {
                name: self.const(value)
                for name in _EFFECT_PARTS
                if (value := getattr(effect, name)) not in (None, ())
            }
        for key, target in (
            ("actions", "acts"),
            ("tags", "tags"),
            ("auto_replies", "replies"),
            ("plugin_actions", "plugin"),
        ):
            if key in parts:
                lines.append(f"        {target} += {parts[key]}")
        for key, target in (("team", "team"), ("priority", "priority"), ("prefer_agent", "prefer")):
            if key in parts:
                lines.append(f"        if {target} is None:")
                lines.append(f"            {target} = {parts[key]}")
        return lines

    def prelude(self) -> list[str]:
        lines = []
        for var in self.vars.values():
            i, ref = var.index, var.ref
            key = self.const(ref.name, "K")
            selector = ref.param if ref.param is not None else ref.key
            if selector is None:
                lines.append(f"    v{i} = get({key})")
            else:
                # facts hold dicts nearly always; other mappings take the slower call
                lines.append(f"    v{i} = get({key})")
                p = self.const(selector, "P")
                lines.append(f"    v{i} = v{i}.get({p}) if type(v{i}) is dict else _sub(v{i}, {p})")
            if "x" in var.flags:
                lines.append(f"    x{i} = v{i} if type(v{i}) in _NUM else _NAN")
            if "n" in var.flags:
                lines.append(f"    n{i} = type(v{i}) in _NUM")
            if "s" in var.flags:
                lines.append(f"    s{i} = type(v{i}) is str")
            if "b" in var.flags:
                lines.append(f"    b{i} = type(v{i}) is bool")
            if "t" in var.flags:
                lines.append(f"    t{i} = v{i}.casefold() if type(v{i}) is str else None")
            if "l" in var.flags:
                lines.append(f"    l{i} = _fold(v{i})")
            if "u" in var.flags:
                lines.append(f"    u{i} = None")
            if var.scanner_lists:
                # Scanned lazily, at most once per decision, by the first rule that needs it.
                self.globals[f"S{i}"] = Scanner(tuple(var.scanner_lists), bound=True)
                lines.append(f"    m{i} = None")
        return lines

    def fields_read(self) -> tuple[frozenset[str], dict[str, frozenset[str]]]:
        refs = [var.ref for var in self.vars.values()] + self.action_fields
        used = frozenset(ref.name for ref in refs)
        params: dict[str, set[str]] = {}
        for ref in refs:
            selector = ref.param if ref.param is not None else ref.key
            if selector is not None:
                params.setdefault(ref.name, set()).add(selector)
        return used, {name: frozenset(values) for name, values in params.items()}


_OUTCOME = "ids, acts, team, priority, prefer, tags, replies, plugin"
_DEDUPED = "list(dict.fromkeys(tags)), list(dict.fromkeys(replies))"
_EFFECT_PARTS = ("actions", "team", "priority", "prefer_agent", "tags", "auto_replies", "plugin_actions")


def _cost(cond: n.Cond) -> int:
    """A rough price of evaluating ``cond``: a comparison is cheap, a word scan or a regex is not."""
    if isinstance(cond, n.Const):
        return 0
    if isinstance(cond, n.Present | n.Bare | n.Compare):
        return 1
    if isinstance(cond, n.InList | n.Contains):
        return 2
    if isinstance(cond, n.ContainsAny | n.Matches):
        return 8
    if isinstance(cond, n.Negation):
        return _cost(cond.item)
    if isinstance(cond, n.AllOf | n.AnyOf):
        return sum(_cost(item) for item in cond.items)
    return 8


def _cheapest_first(items: tuple[n.Cond, ...]) -> list[n.Cond]:
    # Conditions have no side effects and never raise, so ``and``/``or`` give the same answer in any order; testing
    # the cheap ones first skips the expensive ones (a scan of the message, a regex) whenever they decide alone.
    return sorted(items, key=_cost)


def _predicates(cond: n.Cond) -> list[n.Cond]:
    """Every node of a condition; iterative, like the depth check that bounds it."""
    out, stack = [], [cond]
    while stack:
        node = stack.pop()
        out.append(node)
        if isinstance(node, n.AllOf | n.AnyOf):
            stack.extend(node.items)
        elif isinstance(node, n.Negation):
            stack.append(node.item)
    return out


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
