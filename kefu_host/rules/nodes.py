"""The syntax tree of rule files: frozen values built by :mod:`builder` and read by every later step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal as Kind

LiteralKind = Kind["number", "string", "duration", "bool"]


@dataclass(frozen=True)
class Loc:
    """Where a node starts: display path, 1-based line and column, and its character span in the file."""

    path: str
    line: int
    column: int
    start: int = 0
    end: int = 0


@dataclass(frozen=True)
class Lit:
    """A literal. Durations hold float seconds; ``text`` is how the rule spelled it."""

    value: str | int | float | bool
    kind: LiteralKind
    text: str
    loc: Loc


@dataclass(frozen=True)
class FieldRef:
    """``customer.ltv``, ``queue.length("support")`` (param) or ``customer.attributes["plan"]`` (key)."""

    name: str
    loc: Loc
    param: str | None = None
    key: str | None = None

    def __str__(self) -> str:
        if self.param is not None:
            return f'{self.name}("{self.param}")'
        if self.key is not None:
            return f'{self.name}["{self.key}"]'
        return self.name


# ---- conditions ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Const:
    value: bool
    text: str
    loc: Loc


@dataclass(frozen=True)
class AllOf:
    items: tuple[Cond, ...]
    text: str
    loc: Loc


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Cond, ...]
    text: str
    loc: Loc


@dataclass(frozen=True)
class Negation:
    item: Cond
    text: str
    loc: Loc


@dataclass(frozen=True)
class Bare:
    """A bool field used as a whole condition: ``when customer.identified``."""

    field: FieldRef
    text: str
    loc: Loc


@dataclass(frozen=True)
class Compare:
    field: FieldRef
    op: str
    value: Lit
    text: str
    loc: Loc


@dataclass(frozen=True)
class InList:
    field: FieldRef
    values: tuple[Lit, ...]
    negated: bool
    text: str
    loc: Loc


@dataclass(frozen=True)
class Contains:
    field: FieldRef
    value: Lit
    text: str
    loc: Loc


@dataclass(frozen=True)
class ContainsAny:
    """``contains_any`` over an inline list (``words``) or a named one (``list_name``, with ``list_loc``)."""

    field: FieldRef
    words: tuple[Lit, ...] | None
    list_name: str | None
    list_loc: Loc | None
    text: str
    loc: Loc


@dataclass(frozen=True)
class Matches:
    field: FieldRef
    pattern: Lit
    text: str
    loc: Loc


@dataclass(frozen=True)
class Present:
    field: FieldRef
    negated: bool
    text: str
    loc: Loc


Cond = Const | AllOf | AnyOf | Negation | Bare | Compare | InList | Contains | ContainsAny | Matches | Present
Predicate = Bare | Compare | InList | Contains | ContainsAny | Matches | Present


# ---- top-level blocks ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Action:
    name: str
    args: tuple[Lit | FieldRef, ...]
    loc: Loc


@dataclass(frozen=True)
class Rule:
    id: str
    priority: int
    group: str | None
    desc: str | None
    owner: str | None
    cond: Cond
    actions: tuple[Action, ...]
    loc: Loc
    group_loc: Loc | None = None


@dataclass(frozen=True)
class ListDef:
    """``list name = [..]`` (``words``) or ``list name = file("..")`` (``file``)."""

    name: str
    words: tuple[Lit, ...] | None
    file: Lit | None
    loc: Loc


@dataclass(frozen=True)
class GroupDef:
    name: str
    mode: Kind["first", "all"]
    loc: Loc


@dataclass(frozen=True)
class Fact:
    field: FieldRef
    value: Lit | tuple[Lit, ...]
    loc: Loc


@dataclass(frozen=True)
class ExpectFired:
    rule_id: str
    negated: bool
    loc: Loc


@dataclass(frozen=True)
class ExpectAction:
    name: str
    args: tuple[Lit | FieldRef, ...]
    negated: bool
    loc: Loc


Expectation = ExpectFired | ExpectAction


@dataclass(frozen=True)
class TestDef:
    name: str
    facts: tuple[Fact, ...]
    expectations: tuple[Expectation, ...]
    loc: Loc


Item = Rule | ListDef | GroupDef | TestDef


@dataclass(frozen=True)
class SourceFile:
    """One parsed ``.rule`` file. ``path`` is how errors name it."""

    path: str
    text: str
    items: tuple[Item, ...]

    def line(self, number: int) -> str:
        lines = self.text.splitlines()
        return lines[number - 1] if 0 < number <= len(lines) else ""
