"""How errors render: file:line:col, the source line, a caret under the column."""

from __future__ import annotations

import pickle

import pytest

from kefu_host.rules.errors import RuleError, RuleSetError, did_you_mean


def test_a_located_error_renders_like_a_compiler_error() -> None:
    error = RuleError("rules/a.rule", 3, 8, "unknown field customer.ltvv", "  when customer.ltvv > 1")
    assert (
        str(error)
        == "rules/a.rule:3:8: unknown field customer.ltvv\n      when customer.ltvv > 1\n           ^"
    )
    assert error.location == "rules/a.rule:3:8"


def test_the_caret_counts_wide_characters_twice_and_keeps_tabs() -> None:
    error = RuleError("a.rule", 1, 4, "x", '\t诈骗"')
    assert error.render().splitlines()[2] == "    \t    ^"


def test_an_error_without_a_position_is_just_path_and_message() -> None:
    assert (
        str(RuleError("rules", None, None, "rules directory not found")) == "rules: rules directory not found"
    )


def test_a_rule_set_error_carries_every_error_and_summarises_them() -> None:
    first = RuleError("a.rule", 1, 1, "one")
    second = RuleError("b.rule", 2, 3, "two")
    exc = RuleSetError([first, second])
    assert exc.errors == (first, second)
    assert exc.summary() == "a.rule:1:1: one (and 1 more error)"
    assert str(exc) == "a.rule:1:1: one\nb.rule:2:3: two"
    with pytest.raises(ValueError):
        RuleSetError([])


def test_errors_survive_pickling_for_worker_threads_and_processes() -> None:
    exc = RuleSetError([RuleError("a.rule", 1, 2, "bad", "line")])
    again = pickle.loads(pickle.dumps(exc))
    assert str(again) == str(exc)


def test_did_you_mean() -> None:
    assert did_you_mean("customer.ltvv", ["customer.ltv", "customer.uid"]) == ", did you mean customer.ltv?"
    assert did_you_mean("zzz", ["customer.ltv"]) == ""
    assert did_you_mean("sensitiv", ["sensitive"], "${}") == ", did you mean $sensitive?"
