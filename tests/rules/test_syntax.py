"""Syntax errors: one per file, located at file:line:col, worded as an operator would say it."""

from __future__ import annotations

import pytest

from kefu_host.rules import RuleError
from kefu_host.rules.syntax import MAX_DEPTH, Names, defined_names, parse_tree
from tests.rules.conftest import errors


def test_a_missing_then_is_named_where_the_action_starts() -> None:
    source = """\
        rule vip.high_ltv priority 500
          when customer.ltv >= 10000
          assign_team "vip"
        end
        """
    assert errors(source) == ["rules/a.rule:3:3: missing 'then'"]


def test_a_missing_end_is_reported_at_the_next_block() -> None:
    source = """\
        rule a.one
          when true
          then assign_team "vip"

        rule a.two when true then stop end
        """
    assert errors(source) == ["rules/a.rule:5:1: missing 'end' before 'rule'"]


def test_end_of_file_inside_a_rule_points_just_after_the_last_text() -> None:
    source = 'rule a.one\n  when true\n  then assign_team "vip"\n\n'
    assert errors(source) == ["rules/a.rule:3:25: unexpected end of file, missing 'end'"]


def test_end_of_file_after_an_operator_says_what_was_expected() -> None:
    assert errors("rule a.one when customer.ltv >") == [
        "rules/a.rule:1:31: unexpected end of file, "
        "expected 'false', 'true', a duration, a number or a string"
    ]


def test_a_bad_character_is_a_bad_token() -> None:
    assert errors("rule a.one when customer.ltv > 5 @ then stop end") == [
        "rules/a.rule:1:34: unexpected character '@'"
    ]


def test_a_file_cut_short_after_a_dot_says_so() -> None:
    assert errors("rule a.one when true then stop end\nrule lang.") == [
        "rules/a.rule:2:10: unexpected end of file after 'lang.'"
    ]


def test_an_unterminated_string_points_at_its_opening_quote() -> None:
    assert errors('rule a.one when message.text == "abc then stop end') == [
        "rules/a.rule:1:33: unterminated string"
    ]


def test_a_misspelt_keyword_gets_a_did_you_mean() -> None:
    assert errors("rule a.one priorty 5 when true then stop end") == [
        "rules/a.rule:1:12: unexpected word priorty, expected 'desc', 'in', 'owner', 'priority' or 'when', "
        "did you mean 'priority'?"
    ]


def test_a_missing_when_is_named() -> None:
    assert errors("rule a.one priority 5 customer.ltv > 5 then stop end") == [
        "rules/a.rule:1:23: missing 'when'"
    ]


def test_a_test_block_without_expect_is_named() -> None:
    assert errors('test "t" given customer.ltv = 1 fired a.one end') == [
        "rules/a.rule:1:33: missing 'expect'"
    ]


def test_a_keyword_cannot_be_an_action_name() -> None:
    # "end" is reserved everywhere, so a rule without actions is a syntax error, not an action named end.
    assert errors("rule a.one when true then end") == ["rules/a.rule:1:27: unexpected 'end', expected a name"]


def test_a_fractional_priority_is_refused() -> None:
    assert errors("rule a.one priority 1.5 when true then stop end") == [
        "rules/a.rule:1:21: priority must be a whole number, got 1.5"
    ]


def test_a_duplicate_desc_is_refused() -> None:
    assert errors('rule a.one desc "x" desc "y" when true then stop end') == [
        "rules/a.rule:1:21: desc is given twice"
    ]


def test_names_a_file_defines_are_read_from_its_tokens_even_when_it_does_not_parse() -> None:
    text = 'group routing match first\nlist words = ["x"]\nrule vip.ltv in group other when customer.ltv >'
    names = Names(frozenset({"vip.ltv"}), frozenset({"words"}), frozenset({"routing"}))
    assert defined_names(text) == names
    assert defined_names('rule a.one when message.text == "cut sh') == Names(rules=frozenset({"a.one"}))


def test_errors_never_show_lark_terminal_names() -> None:
    for source in (
        "rule",
        "rule a.b when",
        "rule a.b when x.y (",
        "list = ",
        'test "x" expect',
        "group g match",
    ):
        for headline in errors(source):
            assert "_" not in headline.split(": ", 1)[1].replace("contains_any", ""), headline
            assert "$END" not in headline


def test_the_rendered_error_shows_the_line_and_a_caret_under_the_column() -> None:
    with pytest.raises(RuleError) as caught:
        parse_tree('rule a.one\n  when true\n  assign_team "vip"\nend\n', "rules/a.rule")
    assert str(caught.value) == ("rules/a.rule:3:3: missing 'then'\n      assign_team \"vip\"\n      ^")


def test_nesting_deeper_than_the_limit_is_an_error_not_a_crash() -> None:
    deep = "rule a.one when " + "not " * (MAX_DEPTH + 5) + "true then stop end"
    [headline] = errors(deep)
    assert headline.endswith(f"condition nested too deeply (over {MAX_DEPTH} levels)")


def test_nesting_within_the_limit_parses() -> None:
    parse_tree("rule a.one when " + "(" * 30 + "true" + ")" * 30 + " then stop end", "a.rule")
