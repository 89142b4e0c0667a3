"""A compiled rule set as data (:class:`CompiledRules`), and linking it into the callable that decides.

The compiler's output is plain data: the marshalled code of the generated function and the constants it
reads, with regexes and word scanners as recipes. So a worker process can compile a big rule set and hand the
result over: ``marshal.loads`` is fast where ``compile()`` of a large function holds the GIL for seconds, and
every step of :func:`link` is short, so linking in a thread leaves the event loop free.
"""

from __future__ import annotations

import marshal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kefu_host.rules.facts import dynamic_contains, folded_list
from kefu_host.rules.matcher import WordScanner
from kefu_host.rules.regex import compile_regex, utf8

#: What a run returns: fired rule ids, their actions, (team, rule, routing), priority, preferred agent,
#: tags, auto replies and plugin actions, in evaluation order (the arguments of ``make_decision``).
Outcome = tuple[list[str], list[Any], Any, Any, Any, list[str], list[str], list[Any]]
Run = Callable[[Mapping[str, Any]], Outcome]


@dataclass(frozen=True)
class Regex:
    """A constant that :func:`link` turns into the RE2 regex of ``pattern``."""

    pattern: str


@dataclass(frozen=True)
class Scanner:
    """A constant :func:`link` turns into a :class:`WordScanner` of ``lists`` (or its ``scan``: ``bound``)."""

    lists: tuple[frozenset[str], ...]
    bound: bool = False


@dataclass(frozen=True)
class CompiledRules:
    """The compiled rule set as picklable data. ``constants`` are the generated function's globals by name."""

    code: bytes
    constants: tuple[tuple[str, Any], ...]
    #: Indices of the checked rules in evaluation order: priority descending, then file order.
    order: tuple[int, ...]
    #: Fact keys the conditions and action arguments read.
    fields_used: frozenset[str]
    #: For fields with a parameter or key, which ones are read (``{"queue.length": {"support"}}``).
    field_params: Mapping[str, frozenset[str]]
    #: The generated Python, kept for debugging (not sent between processes).
    source: str = ""


@dataclass(frozen=True)
class Program:
    """The compiled rule set: ``run(facts)`` evaluates the rules and folds the fired rules' effects."""

    run: Run
    order: tuple[int, ...]
    fields_used: frozenset[str]
    field_params: Mapping[str, frozenset[str]]
    source: str = ""


def _sub(value: Any, selector: str) -> Any:
    return value.get(selector) if isinstance(value, Mapping) else None


def _dyn_contains_any(value: Any, scanner: WordScanner, words: frozenset[str]) -> bool:
    if type(value) is str:
        return scanner.scan(value) != 0
    folded = folded_list(value)
    return folded is not None and not folded.isdisjoint(words)


#: Helpers the generated code calls, by the names it uses; they are code, so they are never sent as data.
HELPERS: Mapping[str, Any] = {
    "_NUM": (int, float),
    "_NAN": float("nan"),
    "_sub": _sub,
    "_fold": folded_list,
    "_dyn_contains": dynamic_contains,
    "_dyn_contains_any": _dyn_contains_any,
    "_utf8": utf8,
}


def link(compiled: CompiledRules) -> Program:
    """The callable of ``compiled``: regexes compiled, scanners built, the code bound to its constants."""
    namespace: dict[str, Any] = dict(HELPERS)
    for name, value in compiled.constants:
        namespace[name] = materialise(value)
    exec(marshal.loads(compiled.code), namespace)  # the code was generated from names only (see compiler)
    # popped, so the function and its globals form no cycle: a replaced rule set is freed by refcounting alone
    run = namespace.pop("run")
    return Program(run, compiled.order, compiled.fields_used, compiled.field_params, compiled.source)


def materialise(value: Any) -> Any:
    """A constant as the generated code uses it: recipes built, plain values as they are."""
    if isinstance(value, Regex):
        return compile_regex(value.pattern)
    if isinstance(value, Scanner):
        scanner = WordScanner(value.lists)
        return scanner.scan if value.bound else scanner
    return value
