"""Compilation: rule text never becomes code, word lists are scanned at most once and only when needed."""

from __future__ import annotations

import gc
import re
import textwrap
import weakref

import pytest

from kefu_host.rules import Catalogue
from kefu_host.rules.builder import parse_file
from kefu_host.rules.checker import Checker
from kefu_host.rules.compiler import compile_rules
from kefu_host.rules.program import Program
from kefu_host.rules.matcher import WordScanner
from kefu_host.rules.wordlists import resolve_lists


def program(source: str) -> Program:
    parsed = [parse_file(textwrap.dedent(source), "a.rule")]
    lists, _, list_errors = resolve_lists(parsed, {}, "")
    checker = Checker(Catalogue.core(), None, lists)
    checked = checker.check(parsed)
    assert not list_errors and not checker.errors
    return compile_rules(checked, Catalogue.core(), lists)


def fired(compiled: Program, facts: dict[str, object]) -> list[str]:
    return compiled.run(facts)[0]


def test_strings_from_rules_are_constants_never_code() -> None:
    hostile = '\\"); __import__(\\"os\\")._exit(3); (\\"'
    compiled = program(f'''\
        rule r priority 1 when message.text == "{hostile}" or message.text contains "x') or True or ('"
          then stop end
        ''')
    assert "__import__" not in compiled.source and "_exit" not in compiled.source
    assert "or True" not in compiled.source
    assert fired(compiled, {"message.text": "x"}) == []
    assert fired(compiled, {"message.text": '"); __import__("os")._exit(3); ("'}) == ["r"]


def test_the_generated_function_checks_rules_in_priority_order() -> None:
    compiled = program("""\
        rule low priority 1 when true then stop end
        rule high priority 9 when true then tag "x" end
        """)
    assert compiled.order == (1, 0)
    assert fired(compiled, {}) == ["high", "low"]


@pytest.fixture
def scan_calls(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    calls: list[object] = []
    original = WordScanner.scan

    def counting(self: WordScanner, text: object) -> int:
        calls.append(text)
        return original(self, text)

    monkeypatch.setattr(WordScanner, "scan", counting)
    return calls


def test_a_field_is_scanned_once_per_decision_for_every_list_used_on_it(scan_calls: list[object]) -> None:
    compiled = program("""\
        list a = ["诈骗", "scam"]
        list b = ["退款"]
        rule r.one priority 3 when message.text contains_any $a then tag "a" end
        rule r.two priority 2 when message.text contains_any $b or message.text contains_any $a
          then tag "b" end
        rule r.three priority 1 when message.text contains_any ["hello"] then tag "c" end
        """)
    assert fired(compiled, {"message.text": "hello 退款"}) == ["r.two", "r.three"]
    assert scan_calls == ["hello 退款"]


def test_a_scan_no_rule_reaches_is_never_done(scan_calls: list[object]) -> None:
    compiled = program("""\
        rule r.first priority 2 when true then stop end
        rule r.words priority 1 when message.text contains_any ["x"] then tag "x" end
        """)
    assert fired(compiled, {"message.text": "x"}) == ["r.first"]
    assert scan_calls == []


def test_fields_used_and_params_come_from_conditions_and_actions() -> None:
    compiled = program("""\
        rule r when queue.length("support") > 1 or queue.length("vip") > 1
          then prefer_agent customer.owner end
        """)
    assert compiled.fields_used == {"queue.length", "customer.owner"}
    assert compiled.field_params == {"queue.length": {"support", "vip"}}


def test_a_regex_on_a_scanned_field_runs_only_when_its_fixed_text_is_there(
    scan_calls: list[object], regex_engine: list[tuple[str, object]]
) -> None:
    compiled = program("""\
        rule r.words priority 2 when message.text contains_any ["退款"] then tag "w" end
        rule r.order priority 1 when message.text matches "Order[- ]?(\\d+)" then tag "o" end
        """)
    assert fired(compiled, {"message.text": "hello 12"}) == []
    assert fired(compiled, {"message.text": "order 12"}) == []
    assert fired(compiled, {"message.text": "Order 12"}) == ["r.order"]
    assert fired(compiled, {"message.text": "ORDER 12 退款"}) == ["r.words"]
    assert len(scan_calls) == 4
    # the scan compares case-folded text, so only "hello 12", without "order" in any case, skipped the regex
    assert [text for _pattern, text in regex_engine] == [b"order 12", b"Order 12", "ORDER 12 退款".encode()]


def test_scan_bits_are_named_constants_not_literals_in_the_code() -> None:
    # Each inline list is one bit of the field's scan. Written as decimal literals, bits of thousands of lists
    # cost quadratic time to print and parse; past 14,300 lists Python refuses to print them (a load error).
    rule = 'rule r{0} when message.text contains_any ["w{0}x"] then tag "t{0}" end'
    rules = "\n".join(rule.format(i) for i in range(200))
    compiled = program(rules)
    assert max(len(number) for number in re.findall(r"\d+", compiled.source)) < 10
    assert fired(compiled, {"message.text": "say w199x and w7x"}) == ["r7", "r199"]


def test_cheap_conditions_are_tested_before_a_scan(scan_calls: list[object]) -> None:
    compiled = program("""\
        rule r when message.text contains_any ["x"] and customer.ltv > 100 then tag "t" end
        """)
    assert fired(compiled, {"message.text": "x", "customer.ltv": 5}) == []
    assert scan_calls == []  # the comparison decided alone
    assert fired(compiled, {"message.text": "x", "customer.ltv": 500}) == ["r"]
    assert scan_calls == ["x"]


@pytest.mark.parametrize(
    ("value", "fires"),
    [(None, set()), ("5", set()), (True, set()), ([5], set()), (5, {"ge", "le", "eq", "ne"}), (7.5, {"ge", "ne"})],
)
def test_a_missing_or_mistyped_number_fails_every_comparison(value: object, fires: set[str]) -> None:
    compiled = program("""\
        rule ge when customer.ltv >= 5 then tag "ge" end
        rule le when customer.ltv <= 5 then tag "le" end
        rule eq when customer.ltv == 5 then tag "eq" end
        rule ne when customer.ltv != 6 then tag "ne" end
        """)
    assert set(fired(compiled, {"customer.ltv": value})) == fires


def test_a_compiled_rule_set_is_freed_without_the_cycle_collector() -> None:
    # The host freezes what startup built (gc.freeze), so a rule set replaced by a reload must not need the
    # collector: its function and globals form no reference cycle.
    compiled = program("""\
        rule r when customer.ltv > 1 then tag "x" end
        """)
    gone = weakref.ref(compiled.run)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        del compiled
        assert gone() is None
    finally:
        if was_enabled:
            gc.enable()
