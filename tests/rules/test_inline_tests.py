"""Inline test blocks: facts from given, every expectation checked, failures named."""

from __future__ import annotations

from kefu_host.rules import nodes as n
from kefu_host.rules.builder import parse_file
from kefu_host.rules.inline_tests import facts_of, run_tests, untested_rules
from tests.rules.conftest import CATASTROPHIC, HOSTILE, errors, ruleset

RULES = """\
group routing match first
rule risk priority 900 in group routing
  when message.text contains_any ["诈骗"]
  then transfer "risk-control" set_priority "urgent" tag "sensitive"
end
rule vip priority 500 in group routing
  when customer.ltv >= 10000 then assign_team "vip" prefer_agent customer.owner end
rule overflow priority 100 when queue.length("support") > 50 then overflow_to "backup" auto_reply "busy" end
rule unused priority 1 when customer.vip_level > 100 then tag "never" end
"""


def test_given_builds_facts_shaped_like_the_hosts() -> None:
    [test] = parse_file(
        'test "t" given customer.ltv = 1, customer.tags = ["a"], queue.length("support") = 3, '
        'customer.attributes["plan"] = "pro", conversation.wait_time = 2m expect fired x end',
        "a.rule",
    ).items
    assert isinstance(test, n.TestDef)
    assert facts_of(test) == {
        "customer.ltv": 1,
        "customer.tags": ["a"],
        "queue.length": {"support": 3},
        "customer.attributes": {"plan": "pro"},
        "conversation.wait_time": 120.0,
    }


def test_every_kind_of_expectation_can_pass() -> None:
    source = (
        RULES
        + """
test "all kinds"
  given message.text = "诈骗", customer.ltv = 20000, customer.owner = "amy", queue.length("support") = 60
  expect fired risk, not fired vip, fired overflow, transfer "risk-control", assign_team "risk-control",
         not overflow_to "backup", set_priority "urgent", set_priority 200, tag "sensitive", not tag "x",
         auto_reply "busy", not prefer_agent "amy"
end
"""
    )
    [result] = run_tests(ruleset(source, run_inline_tests=False))
    assert result.passed, result.failures


def test_a_failing_test_is_a_load_error_naming_each_difference() -> None:
    source = (
        RULES
        + """
test "vip goes to vip"
  given customer.ltv = 20000, message.text = "诈骗"
  expect fired vip, not fired risk, assign_team "vip", set_priority "low", tag "x", prefer_agent "amy"
end
"""
    )
    assert errors(source) == [
        'rules/a.rule:11:1: test "vip goes to vip" failed: '
        "expected vip to fire, but it did not (fired: risk); "
        "expected risk not to fire, but it did (fired: risk); "
        'expected assign_team "vip", got transfer to "risk-control" (by risk); '
        'expected set_priority "low", got priority 200; '
        'expected tag "x", got tags ["sensitive"]; '
        'expected prefer_agent "amy", got prefer_agent none'
    ]


def test_transfer_and_overflow_expectations_check_how_the_team_was_set() -> None:
    source = (
        RULES
        + """
test "t"
  given queue.length("support") = 60
  expect transfer "backup"
end
"""
    )
    assert errors(source) == [
        'rules/a.rule:11:1: test "t" failed: '
        'expected transfer "backup", got overflow to "backup" (by overflow)'
    ]


def test_untested_rules_are_those_no_test_made_fire() -> None:
    source = (
        RULES
        + """
test "risk" given message.text = "诈骗" expect fired risk end
test "vip" given customer.ltv = 20000 expect fired vip end
"""
    )
    rules = ruleset(source)
    assert untested_rules(rules, run_tests(rules)) == ("overflow", "unused")


def test_inline_tests_run_regexes_on_re2(regex_engine: list) -> None:
    rules = ruleset(
        f"""\
        rule spam when message.text matches "{CATASTROPHIC}" then tag "a-run" end
        test "a hostile text is answered" given message.text = "{HOSTILE}" expect not fired spam end
        """
    )
    assert [result.passed for result in run_tests(rules)] == [True]
    assert (CATASTROPHIC, HOSTILE.encode()) in regex_engine
