"""Explanations: per rule status and the value of every condition node, consistent with decide()."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kefu_host.rules.explain import MISSING
from tests.rules.conftest import CATASTROPHIC, HOSTILE, ruleset

SOURCE = """\
list sensitive = ["诈骗", "scam"]
group routing match first
rule risk priority 900 in group routing
  when message.text contains_any $sensitive
  then transfer "risk-control"
end
rule vip priority 500 in group routing
  when customer.ltv >= 10000 and not customer.tags contains "blocked"
  then assign_team "vip" prefer_agent customer.owner
end
rule stopper priority 100 when conversation.transfers > 3 then tag "bounced" stop end
rule overflow priority 50
  when queue.length("support") > 50 or queue.oldest_wait("support") > 2m or conversation.wait_time is present
  then overflow_to "backup"
end
rule misc priority 5
  when message.text matches "^[a-z]+$" or message.text matches "SCAM!?$" or message.lang not in ["zh"]
    or customer.tags contains_any ["VIP"]
    or customer.attributes["locale"] contains "e" or customer.ltv in [1, 2.5]
  then tag "misc"
end
rule lang priority 10 in group routing
  when message.lang in ["en"] or customer.attributes["locale"] == "en" or customer.identified
  then assign_team "en-desk"
end
rule default.general priority -1000 in group routing when true then assign_team "support" end
"""


def test_each_rule_gets_a_status_in_evaluation_order() -> None:
    explanation = ruleset(SOURCE).explain(
        {"message.text": "这是诈骗", "customer.ltv": 20000, "conversation.transfers": 5}
    )
    statuses = [(r.rule_id, r.status) for r in explanation.rules]
    assert statuses == [
        ("risk", "fired"),
        ("vip", "skipped"),
        ("stopper", "fired"),
        ("overflow", "not reached"),
        ("lang", "not reached"),
        ("misc", "not reached"),
        ("default.general", "not reached"),
    ]
    assert explanation.rules[1].reason == "group routing already matched risk"
    assert explanation.rules[3].reason == "stopper said stop"
    assert explanation.decision.fired == ("risk", "stopper")


def test_condition_nodes_carry_text_value_and_the_fact_read() -> None:
    explanation = ruleset(SOURCE).explain(
        {"customer.ltv": 20000, "customer.tags": ["x"], "customer.owner": "amy"}
    )
    vip = explanation.rules[1]
    assert vip.status == "fired"
    top = vip.condition
    assert (top.text, top.value) == ('customer.ltv >= 10000 and not customer.tags contains "blocked"', True)
    ltv, negation = top.children
    assert (ltv.field, ltv.fact, ltv.value) == ("customer.ltv", 20000, True)
    assert negation.value is True and negation.children[0].value is False
    assert explanation.rules[0].condition.fact is MISSING


def test_matched_words_are_reported() -> None:
    risk = ruleset(SOURCE).explain({"message.text": "SCAM 诈骗"}).rules[0]
    assert set(risk.condition.matched) == {"诈骗", "scam"}


def test_the_explanation_serialises_to_json() -> None:
    explanation = ruleset(SOURCE).explain({"customer.ltv": 20000, "queue.length": {"support": 60}})
    data = json.loads(json.dumps(explanation.to_dict(), ensure_ascii=False))
    assert data["decision"]["team"] == "vip"
    vip = next(r for r in data["rules"] if r["rule"] == "vip")
    assert vip["fired"] is True and vip["condition"]["children"][0]["fact"] == 20000
    overflow = next(r for r in data["rules"] if r["rule"] == "overflow")
    assert overflow["condition"]["children"][0] == {
        "text": 'queue.length("support") > 50',
        "value": True,
        "field": 'queue.length("support")',
        "fact": 60,
    }
    assert data["facts"]["queue.length"] == {"support": 60}


# Facts drawn from right and wrong types, present and missing, to hold explain() to decide()'s answers.
_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 20000),
    st.floats(allow_nan=False, width=32),
    st.sampled_from(["en", "zh", "这是诈骗", "SCAM!", "hello", ""]),
    st.lists(st.sampled_from(["blocked", "BLOCKED", "vip", 3]), max_size=3),
)
_facts = st.fixed_dictionaries(
    {},
    optional={
        "message.text": _values,
        "message.lang": _values,
        "customer.ltv": _values,
        "customer.tags": _values,
        "customer.owner": _values,
        "customer.identified": _values,
        "customer.attributes": st.one_of(_values, st.dictionaries(st.just("locale"), _values)),
        "conversation.transfers": _values,
        "conversation.wait_time": _values,
        "queue.length": st.one_of(_values, st.dictionaries(st.sampled_from(["support", "vip"]), _values)),
        "queue.oldest_wait": st.one_of(_values, st.dictionaries(st.just("support"), _values)),
    },
)
_RULES = ruleset(SOURCE)


@settings(max_examples=300, deadline=None)
@given(_facts)
def test_explain_agrees_with_the_compiled_decision(facts: dict[str, Any]) -> None:
    explanation = _RULES.explain(facts)
    assert tuple(r.rule_id for r in explanation.rules if r.fired) == _RULES.decide(facts).fired


# Conjunctions the compiler reorders (cheapest first) and comparisons it compiles without a type flag.
_REORDERED = ruleset("""\
list sensitive = ["诈骗", "scam"]
rule scan.first priority 3
  when message.text contains_any $sensitive and (customer.ltv != 3 or conversation.transfers <= 2)
    and not message.text matches "x$"
  then tag "a"
end
rule cheap.last priority 2
  when (queue.length("support") < 5 or customer.tags contains "vip") and customer.ltv > 100
  then tag "b"
end
rule mixed priority 1 when not (customer.ltv == 0 or message.lang in ["zh"]) or conversation.wait_time >= 1m
  then tag "c"
end
""")


@settings(max_examples=300, deadline=None)
@given(_facts)
def test_reordered_conditions_decide_as_written(facts: dict[str, Any]) -> None:
    explanation = _REORDERED.explain(facts)
    assert tuple(r.rule_id for r in explanation.rules if r.fired) == _REORDERED.decide(facts).fired


def test_explanations_run_regexes_on_re2(regex_engine: list) -> None:
    rules = ruleset(f'rule spam when message.text matches "{CATASTROPHIC}" then tag "a-run" end')
    explained = rules.explain({"message.text": HOSTILE})
    assert [(rule.rule_id, rule.status) for rule in explained.rules] == [("spam", "not matched")]
    # once to explain the rule, once for the decision the explanation carries
    assert [pattern for pattern, _text in regex_engine] == [CATASTROPHIC, CATASTROPHIC]
