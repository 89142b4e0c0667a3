"""Semantic errors: names resolve, types fit, ids are unique; all of them found in one pass."""

from __future__ import annotations

from tests.rules.conftest import errors, ruleset


def test_an_unknown_field_suggests_the_closest_one() -> None:
    assert errors("rule a.one when customer.ltvv >= 5 then stop end") == [
        "rules/a.rule:1:17: unknown field customer.ltvv, did you mean customer.ltv?"
    ]


def test_an_unknown_field_without_a_close_match_has_no_suggestion() -> None:
    assert errors("rule a.one when weather.rain == true then stop end") == [
        "rules/a.rule:1:17: unknown field weather.rain"
    ]


def test_an_unknown_action_suggests_the_closest_one() -> None:
    assert errors('rule a.one when true then asign_team "vip" end') == [
        "rules/a.rule:1:27: unknown action asign_team, did you mean assign_team?"
    ]


def test_an_unknown_list_suggests_the_closest_one() -> None:
    source = 'list sensitive = ["x"]\nrule a.one when message.text contains_any $sensitiv then stop end\n'
    assert errors(source) == ["rules/a.rule:2:43: unknown list $sensitiv, did you mean $sensitive?"]


def test_an_unknown_team_is_checked_when_teams_are_given() -> None:
    source = 'rule a.one when true then assign_team "vipp" end'
    assert errors(source) == ['rules/a.rule:1:39: unknown team "vipp", did you mean "vip"?']
    assert ruleset(source, teams=None).rules[0].id == "a.one"


def test_team_parameters_of_queue_fields_are_checked_too() -> None:
    assert errors('rule a.one when queue.length("suport") > 5 then stop end') == [
        'rules/a.rule:1:17: unknown team "suport", did you mean "support"?'
    ]


def test_an_unknown_group_suggests_the_closest_one() -> None:
    source = "group routing match first\nrule a.one in group routng when true then stop end\n"
    assert errors(source) == ["rules/a.rule:2:21: unknown group routng, did you mean routing?"]


def test_an_ordering_operator_on_a_string_field_is_a_type_error() -> None:
    assert errors('rule a.one when message.text >= "a" then stop end') == [
        "rules/a.rule:1:17: operator >= does not apply to a string field"
    ]


def test_a_literal_of_the_wrong_type_is_a_type_error() -> None:
    assert errors('rule a.one when customer.ltv >= "5" then stop end') == [
        'rules/a.rule:1:33: expected a number to compare with customer.ltv, got string "5"'
    ]


def test_a_duration_field_wants_a_duration() -> None:
    assert errors("rule a.one when conversation.wait_time > 5 then stop end") == [
        "rules/a.rule:1:42: expected a duration (like 30s or 2m) to compare with conversation.wait_time, "
        "got number 5"
    ]


def test_operators_that_do_not_fit_the_field_type() -> None:
    source = """\
        rule a.one when customer.ltv contains "x" then stop end
        rule a.two when customer.tags == "x" then stop end
        rule a.three when customer.ltv matches "x" then stop end
        rule a.four when customer.identified in [true] then stop end
        rule a.five when customer.ltv then stop end
        """
    assert errors(source) == [
        "rules/a.rule:1:17: operator contains does not apply to a number field",
        "rules/a.rule:2:17: operator == does not apply to a string list field",
        "rules/a.rule:3:19: operator matches does not apply to a number field",
        "rules/a.rule:4:18: operator in does not apply to a bool field",
        "rules/a.rule:5:18: customer.ltv is a number field; write a comparison like customer.ltv > 0",
    ]


def test_parameters_and_keys_must_fit_the_field() -> None:
    source = """\
        rule a.one when queue.length > 5 then stop end
        rule a.two when customer.ltv("x") > 5 then stop end
        rule a.three when customer.attributes == "x" then stop end
        rule a.four when customer.ltv["x"] > 5 then stop end
        """
    assert errors(source) == [
        'rules/a.rule:1:17: queue.length needs a team, like queue.length("support")',
        "rules/a.rule:2:17: customer.ltv takes no argument",
        'rules/a.rule:3:19: customer.attributes is a map, read one key like customer.attributes["plan"]',
        "rules/a.rule:4:18: customer.ltv is a number field, not a map",
    ]


def test_a_bad_regex_is_an_error_at_the_pattern() -> None:
    assert errors('rule a.one when message.text matches "([a-z]" then stop end') == [
        'rules/a.rule:1:39: invalid regex "([a-z]": missing ): ([a-z]'
    ]


def test_a_regex_re2_cannot_run_is_refused_at_the_part_that_needs_backtracking() -> None:
    # Backreferences and lookarounds need a backtracking engine; rules run on RE2 (linear time), so they are
    # load errors naming the construct, located at it inside the string.
    source = """\
        rule a.one when message.text matches "(a)\\1" then stop end
        rule a.two when message.text matches "x(?=y)" then stop end
        rule a.three when message.text matches "(?<!no )refund" then stop end
        rule a.four when message.text matches "[\\u4e00-\\u9fff]" then stop end
        """
    assert errors(source) == [
        r'rules/a.rule:1:42: invalid regex "(a)\1": \1 is a backreference; backreferences are not supported',
        'rules/a.rule:2:40: invalid regex "x(?=y)": lookahead (?=...) is not supported '
        "(invalid perl operator: (?=)",
        'rules/a.rule:3:41: invalid regex "(?<!no )refund": lookbehind (?<!...) is not supported '
        "(invalid perl operator: (?<!)",
        r'rules/a.rule:4:41: invalid regex "[\u4e00-\u9fff]": write a code point as \x{4e00}, not \u4e00 '
        r"(invalid escape sequence: \u)",
    ]


def test_action_arguments_are_counted_and_typed() -> None:
    source = """\
        rule a.one when true then assign_team end
        rule a.two when true then set_priority "hi" end
        rule a.three when true then tag 5 end
        rule a.four when true then assign_team customer.owner end
        rule a.five when true then prefer_agent customer.ltv end
        """
    assert errors(source) == [
        "rules/a.rule:1:27: assign_team takes 1 argument (a team), got 0",
        'rules/a.rule:2:40: set_priority takes low, normal, high, urgent or a whole number, got "hi"',
        "rules/a.rule:3:33: tag takes a text, got number 5",
        "rules/a.rule:4:40: assign_team takes a team in quotes, not a field",
        "rules/a.rule:5:41: prefer_agent takes a string or string field, but customer.ltv is a number field",
    ]


def test_a_rule_sets_the_team_once() -> None:
    assert errors('rule a.one when true then assign_team "vip" transfer "support" end') == [
        "rules/a.rule:1:45: a rule sets the team at most once (assign_team at 1:27)"
    ]


def test_a_duplicate_rule_id_across_files_names_the_first_definition() -> None:
    files = {
        "a.rule": 'rule vip.high_ltv when true then assign_team "vip" end\n',
        "b.rule": '\n\nrule vip.high_ltv when true then assign_team "support" end\n',
    }
    assert errors(files=files) == [
        "rules/b.rule:3:1: duplicate rule id vip.high_ltv (first defined at rules/a.rule:1:1)"
    ]


def test_duplicate_groups_lists_and_tests_are_errors() -> None:
    source = """\
        group g match first
        group g match all
        list w = ["a"]
        list w = ["b"]
        rule a.one when true then stop end
        test "t" expect fired a.one end
        test "t" expect fired a.one end
        """
    assert errors(source) == [
        "rules/a.rule:2:1: duplicate group g (first defined at rules/a.rule:1:1)",
        "rules/a.rule:4:1: duplicate list w (first defined at rules/a.rule:3:1)",
        'rules/a.rule:7:1: duplicate test "t" (first defined at rules/a.rule:6:1)',
    ]


def test_every_semantic_error_of_every_file_is_reported_in_one_pass() -> None:
    files = {
        "a.rule": "rule a.one when customer.ltvv > 1 then stop end\nrule a.two when true then stopp end\n",
        "b.rule": 'rule b.one when true then assign_team "nope" end\n',
    }
    assert errors(files=files) == [
        "rules/a.rule:1:17: unknown field customer.ltvv, did you mean customer.ltv?",
        "rules/a.rule:2:27: unknown action stopp, did you mean stop?",
        'rules/b.rule:1:39: unknown team "nope"',
    ]


def test_a_syntax_error_in_one_file_does_not_hide_errors_in_another() -> None:
    files = {
        "a.rule": 'list words = ["x"]\nrule a.one when true then\n',
        "b.rule": "rule b.one when message.text contains_any $words and customer.ltvv > 1 then stop end\n",
    }
    # $words may be defined in the broken file, so it is not reported; the unknown field is.
    assert errors(files=files) == [
        "rules/a.rule:2:26: unexpected end of file, expected a name",
        "rules/b.rule:1:54: unknown field customer.ltvv, did you mean customer.ltv?",
    ]


def test_inline_list_words_must_be_strings() -> None:
    assert errors('rule a.one when message.text contains_any ["a", 5] then stop end') == [
        "rules/a.rule:1:49: contains_any takes strings, got number 5"
    ]


def test_test_blocks_are_checked_against_rules_fields_and_actions() -> None:
    source = """\
        rule a.one when true then stop end
        test "t"
          given customer.ltv = "big", customer.tags = "x", customer.ltvv = 1, customer.ltv = 2
          expect fired a.onee, stop, assign_team customer.owner, tag "x"
        end
        """
    assert errors(source) == [
        'rules/a.rule:3:24: expected a number for customer.ltv, got string "big"',
        'rules/a.rule:3:31: customer.tags is a string list field, give a list like ["a", "b"]',
        "rules/a.rule:3:52: unknown field customer.ltvv, did you mean customer.ltv?",
        "rules/a.rule:3:71: customer.ltv is given twice",
        "rules/a.rule:4:10: unknown rule a.onee, did you mean a.one?",
        "rules/a.rule:4:24: stop cannot be expected; expect the rules that fired instead",
        "rules/a.rule:4:42: expectations take literal values, not fields",
    ]


def test_a_valid_set_has_no_errors() -> None:
    source = """\
        list words = ["退款", "refund"]
        group routing match first
        rule a.one priority 5 in group routing
          when message.text contains_any $words and customer.attributes["plan"] in ["pro", "team"]
            and conversation.wait_time > 30s and customer.tags contains_any ["vip"] and customer.identified
            and message.text matches "\\d{6}" and queue.free_capacity("support") is present
          then assign_team "vip" set_priority 120 prefer_agent "alice" tag "x" auto_reply "hi"
        end
        """
    assert [rule.id for rule in ruleset(source).rules] == ["a.one"]
