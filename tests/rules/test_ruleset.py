"""Decisions: evaluation order, groups, stop, operators on every type, missing facts, what the set reads."""

from __future__ import annotations

import pytest

from kefu_host.rules import Catalogue, FieldSpec, FieldType
from tests.rules.conftest import CATASTROPHIC, HOSTILE, ruleset


def fired(source: str, facts: dict, **kwargs: object) -> tuple[str, ...]:
    return ruleset(source, **kwargs).decide(facts).fired  # type: ignore[arg-type]


# ---- order, groups and stop ----------------------------------------------------------------------------
def test_rules_evaluate_by_priority_descending() -> None:
    source = """\
        rule low priority 1 when true then tag "low" end
        rule high priority 10 when true then tag "high" end
        rule negative priority -5 when true then tag "negative" end
        """
    decision = ruleset(source).decide({})
    assert decision.fired == ("high", "low", "negative")
    assert decision.tags == ("high", "low", "negative")


def test_equal_priorities_keep_file_order_across_files_sorted_by_path() -> None:
    files = {
        "b.rule": 'rule b.first when true then tag "b1" end\nrule b.second when true then tag "b2" end\n',
        "a.rule": 'rule a.only when true then tag "a" end\n',
        "sub/c.rule": 'rule c.only when true then tag "c" end\n',
    }
    assert ruleset(files=files).decide({}).fired == ("a.only", "b.first", "b.second", "c.only")


def test_a_match_first_group_fires_only_its_first_matching_rule() -> None:
    source = """\
        group routing match first
        rule r.vip priority 500 in group routing when customer.ltv >= 10000 then assign_team "vip" end
        rule r.big priority 400 in group routing when customer.ltv >= 100 then assign_team "support" end
        rule r.default priority -1 in group routing when true then assign_team "support" end
        rule loose priority 0 when true then tag "always" end
        """
    assert fired(source, {"customer.ltv": 20000}) == ("r.vip", "loose")
    assert fired(source, {"customer.ltv": 500}) == ("r.big", "loose")
    assert fired(source, {}) == ("loose", "r.default")


def test_a_match_all_group_fires_every_matching_rule() -> None:
    source = """\
        group tagging match all
        rule t.one priority 2 in group tagging when true then tag "one" end
        rule t.two priority 1 in group tagging when true then tag "two" end
        """
    assert fired(source, {}) == ("t.one", "t.two")


def test_groups_are_independent_of_each_other() -> None:
    source = """\
        group a match first
        group b match first
        rule a.one priority 3 in group a when true then tag "a1" end
        rule b.one priority 2 in group b when true then tag "b1" end
        rule a.two priority 1 in group a when true then tag "a2" end
        rule b.two priority 0 in group b when true then tag "b2" end
        """
    assert fired(source, {}) == ("a.one", "b.one")


def test_stop_ends_evaluation_after_its_rule() -> None:
    source = """\
        rule r.before priority 3 when true then tag "before" end
        rule r.stopper priority 2 when customer.ltv > 0 then tag "stopper" stop end
        rule r.after priority 1 when true then tag "after" end
        """
    assert fired(source, {"customer.ltv": 1}) == ("r.before", "r.stopper")
    assert fired(source, {}) == ("r.before", "r.after")


# ---- logic -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("a", "b", "c", "expected"),
    [(x, y, z, (not x and y) or z) for x in (0, 1) for y in (0, 1) for z in (0, 1)],
)
def test_not_and_or_follow_their_precedence(a: int, b: int, c: int, expected: bool) -> None:
    source = (
        "rule r when not customer.vip_level == 1 and customer.ltv == 1 or conversation.transfers == 1 "
        "then stop end"
    )
    facts = {"customer.vip_level": a, "customer.ltv": b, "conversation.transfers": c}
    assert (fired(source, facts) == ("r",)) is bool(expected)


def test_true_and_false_literals() -> None:
    assert fired("rule yes when true then stop end\n", {}) == ("yes",)
    assert fired("rule no when false then stop end\n", {}) == ()


# ---- comparisons by type ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("condition", "facts", "expected"),
    [
        ("customer.ltv >= 10000", {"customer.ltv": 10000}, True),
        ("customer.ltv >= 10000", {"customer.ltv": 9999.5}, False),
        ("customer.ltv != 5", {"customer.ltv": 4}, True),
        ("customer.ltv < 0", {"customer.ltv": -1}, True),
        ('customer.name == "Li Lei"', {"customer.name": "Li Lei"}, True),
        ('customer.name == "Li Lei"', {"customer.name": "li lei"}, False),
        ('customer.name != "x"', {"customer.name": "y"}, True),
        ("customer.identified == true", {"customer.identified": True}, True),
        ("customer.identified", {"customer.identified": True}, True),
        ("customer.identified", {"customer.identified": 1}, False),
        ("conversation.wait_time > 2m", {"conversation.wait_time": 121.0}, True),
        ("conversation.wait_time > 2m", {"conversation.wait_time": 120}, False),
        ("conversation.wait_time <= 1h", {"conversation.wait_time": 3600.0}, True),
        ('message.lang in ["en", "zh"]', {"message.lang": "zh"}, True),
        ('message.lang in ["en", "zh"]', {"message.lang": "fr"}, False),
        ('message.lang not in ["en", "zh"]', {"message.lang": "fr"}, True),
        ("time.hour in [0, 1, 2]", {"time.hour": 1}, True),
        ('customer.tags contains "blocked"', {"customer.tags": ["VIP", "Blocked"]}, True),
        ('customer.tags contains "blocked"', {"customer.tags": ["unblocked"]}, False),
        ('message.text contains "refund"', {"message.text": "I want a REFUND now"}, True),
        ('message.text matches "^\\d{6}$"', {"message.text": "123456"}, True),
        ('message.text matches "^\\d{6}$"', {"message.text": "12345"}, False),
        ('customer.attributes["plan"] == "pro"', {"customer.attributes": {"plan": "pro"}}, True),
        ('customer.attributes["seats"] > 10', {"customer.attributes": {"seats": 11}}, True),
        ('customer.attributes["seats"] > 10', {"customer.attributes": {"seats": "11"}}, False),
        ('customer.attributes["beta"]', {"customer.attributes": {"beta": True}}, True),
        ('customer.attributes["tags"] contains "x"', {"customer.attributes": {"tags": ["X"]}}, True),
        ('customer.attributes["note"] contains_any ["急"]', {"customer.attributes": {"note": "很急"}}, True),
        ("customer.attributes is present", {"customer.attributes": {}}, True),
        ('queue.length("support") > 50', {"queue.length": {"support": 51, "vip": 0}}, True),
        ('queue.length("support") > 50', {"queue.length": {"vip": 99}}, False),
        ('queue.oldest_wait("support") > 2m', {"queue.oldest_wait": {"support": 180.0}}, True),
    ],
)
def test_operators_on_each_field_type(condition: str, facts: dict, expected: bool) -> None:
    assert (fired(f"rule r when {condition} then stop end", facts) == ("r",)) is expected


# ---- missing and ill-typed facts --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "condition",
    [
        "customer.ltv >= 0",
        "customer.ltv != 0",
        "customer.ltv < 0",
        'customer.name != "x"',
        'customer.name == "x"',
        'message.lang in ["en"]',
        'message.lang not in ["en"]',
        'customer.tags contains "x"',
        'message.text contains "x"',
        'message.text contains_any ["x"]',
        'customer.tags contains_any ["x"]',
        'message.text matches "."',
        "customer.identified",
        "customer.identified == false",
        "conversation.wait_time >= 0s",
        'queue.length("support") >= 0',
        'customer.attributes["plan"] != "x"',
        "customer.ltv is present",
    ],
)
def test_a_missing_fact_makes_every_comparison_false(condition: str) -> None:
    source = f"rule r when {condition} then stop end"
    assert fired(source, {}) == ()
    assert fired(source, {"customer.ltv": None, "message.text": None, "customer.attributes": None}) == ()


@pytest.mark.parametrize(
    ("condition", "facts"),
    [
        ("customer.ltv >= 0", {"customer.ltv": "25000"}),
        ("customer.ltv == 1", {"customer.ltv": True}),
        ('customer.name != "x"', {"customer.name": 5}),
        ('message.text contains "x"', {"message.text": ["x"]}),
        ('message.text contains_any ["x"]', {"message.text": ["x"]}),
        ('customer.tags contains "x"', {"customer.tags": "x"}),
        ('message.text matches "x"', {"message.text": b"x"}),
        ('queue.length("support") > 1', {"queue.length": 5}),
    ],
)
def test_a_fact_of_the_wrong_type_counts_as_missing_instead_of_raising(condition: str, facts: dict) -> None:
    assert fired(f"rule r when {condition} then stop end", facts) == ()


def test_negating_a_comparison_on_a_missing_fact_is_true() -> None:
    # not (missing >= 0) is true, while "not in" on a missing fact is a comparison and so false.
    assert fired("rule r when not customer.ltv >= 0 then stop end", {}) == ("r",)
    assert fired("rule r when customer.ltv is not present then stop end", {}) == ("r",)


# ---- word lists ------------------------------------------------------------------------------------------
def test_contains_any_finds_chinese_words_inside_unspaced_text() -> None:
    source = """\
        list sensitive = ["诈骗", "投诉", "Fraud"]
        rule risk when message.text contains_any $sensitive then transfer "risk-control" end
        """
    rules = ruleset(source)
    assert rules.decide({"message.text": "我要投诉你们"}).team == "risk-control"
    assert rules.decide({"message.text": "这是FRAUD吗"}).team == "risk-control"
    assert rules.decide({"message.text": "你好，请问发货了吗"}).team is None


def test_contains_any_ignores_case_on_both_sides() -> None:
    source = 'rule r when message.text contains_any ["ScAm", "ǅ"] then stop end'
    assert fired(source, {"message.text": "this is a SCAM"}) == ("r",)
    assert fired(source, {"message.text": "ǆ"}) == ("r",)


def test_several_lists_on_one_field_each_match_independently() -> None:
    source = """\
        list a = ["退款"]
        list b = ["refund"]
        rule r.a priority 3 when message.text contains_any $a then tag "a" end
        rule r.b priority 2 when message.text contains_any $b then tag "b" end
        rule r.both priority 1 when message.text contains_any $a and message.text contains_any $b
          then tag "ab" end
        rule r.inline priority 0 when message.text contains_any ["refund", "x"] then tag "inline" end
        """
    assert fired(source, {"message.text": "我要退款"}) == ("r.a",)
    assert fired(source, {"message.text": "Refund please"}) == ("r.b", "r.inline")
    assert fired(source, {"message.text": "退款 refund"}) == ("r.a", "r.b", "r.both", "r.inline")


def test_contains_any_on_a_list_field_matches_whole_elements() -> None:
    source = 'rule r when customer.tags contains_any ["VIP", "gold"] then stop end'
    assert fired(source, {"customer.tags": ["Gold"]}) == ("r",)
    assert fired(source, {"customer.tags": ["golden"]}) == ()


# ---- what a set reads ------------------------------------------------------------------------------------
def test_fields_used_lists_what_conditions_and_actions_read() -> None:
    source = """\
        rule r when queue.length("support") > 1 and customer.attributes["plan"] == "x"
                 or message.text contains "y"
          then prefer_agent customer.owner end
        """
    rules = ruleset(source)
    assert rules.fields_used == {"queue.length", "customer.attributes", "message.text", "customer.owner"}
    assert rules.field_params == {"queue.length": {"support"}, "customer.attributes": {"plan"}}


def test_a_set_without_queue_rules_does_not_read_queue_statistics() -> None:
    assert not any(
        f.startswith("queue.") for f in ruleset("rule r when customer.ltv > 1 then stop end").fields_used
    )


def test_default_rules_are_named_default_or_catch_all_in_a_match_first_group() -> None:
    source = """\
        group routing match first
        group tags match all
        rule default.x priority -1 when customer.ltv > 0 then stop end
        rule catch priority -2 in group routing when true then assign_team "support" end
        rule not_default priority -3 in group tags when true then tag "x" end
        rule also_not priority -4 when true then tag "y" end
        """
    assert ruleset(source).default_rules == ("default.x", "catch")


def test_plugin_fields_are_readable_once_the_catalogue_has_them() -> None:
    catalogue = Catalogue.core().extended([FieldSpec("ticket.open_count", FieldType.NUMBER, "open tickets")])
    rules = ruleset("rule r when ticket.open_count > 2 then stop end", catalogue=catalogue)
    assert rules.decide({"ticket.open_count": 3}).fired == ("r",)


def test_the_decision_carries_the_revision() -> None:
    rules = ruleset("rule r when true then stop end")
    assert rules.decide({}).revision == rules.revision and len(rules.revision) == 64


def test_tags_and_replies_appear_once_even_when_several_rules_add_them() -> None:
    source = """\
        rule r.one priority 2 when true then tag "vip" auto_reply "hi" end
        rule r.two priority 1 when true then tag "vip" tag "new" auto_reply "hi" stop end
        """
    decision = ruleset(source).decide({})
    assert decision.tags == ("vip", "new") and decision.auto_replies == ("hi",)
    unique = ruleset(
        'rule r.one priority 2 when true then tag "a" end\nrule r.two when true then tag "b" end'
    )
    assert unique.decide({}).tags == ("a", "b")


# ---- regexes -------------------------------------------------------------------------------------------
def test_a_catastrophic_regex_on_a_hostile_message_is_decided_on_re2(regex_engine: list) -> None:
    rules = ruleset(
        f"""\
        rule spam when message.text matches "{CATASTROPHIC}" then tag "a-run" end
        rule after when true then tag "reached" end
        """
    )
    assert rules.decide({"message.text": HOSTILE}).tags == ("reached",)
    assert rules.decide({"message.text": "aaaa"}).tags == ("a-run", "reached")
    assert [pattern for pattern, _text in regex_engine] == [CATASTROPHIC, CATASTROPHIC]
    assert regex_engine[0][1] == HOSTILE.encode()


def test_a_regex_reads_a_text_with_a_lone_surrogate_instead_of_raising() -> None:
    rules = ruleset('rule r when message.text matches "order" then tag "o" end')
    assert rules.decide({"message.text": "\ud800 order"}).tags == ("o",)
