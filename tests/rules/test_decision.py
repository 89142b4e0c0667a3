"""Resolving fired actions into one decision."""

from __future__ import annotations

import json

from kefu_host.rules import ActionSpec, ArgType, Catalogue
from kefu_host.rules.decision import FiredAction, resolve
from tests.rules.conftest import ruleset


def test_the_first_team_action_in_evaluation_order_wins_and_says_how() -> None:
    decision = resolve(
        "rev",
        ["a", "b"],
        [FiredAction("a", "overflow_to", ("backup",)), FiredAction("b", "assign_team", ("vip",))],
    )
    assert (decision.team, decision.team_rule, decision.routing) == ("backup", "a", "overflow")
    assert decision.is_overflow and not decision.is_transfer


def test_transfer_is_marked_as_a_transfer() -> None:
    decision = resolve("rev", ["a"], [FiredAction("a", "transfer", ("risk-control",))])
    assert decision.routing == "transfer" and decision.is_transfer


def test_priority_is_the_first_set_priority_as_a_number() -> None:
    decision = resolve(
        "rev",
        ["a", "b"],
        [FiredAction("a", "set_priority", ("urgent",)), FiredAction("b", "set_priority", (5,))],
    )
    assert decision.priority == 200
    levels = [
        resolve("r", ["a"], [FiredAction("a", "set_priority", (level,))]).priority
        for level in ("low", "normal", "high", "urgent", 7)
    ]
    assert levels == [10, 50, 100, 200, 7]


def test_prefer_agent_is_the_first_that_has_a_value() -> None:
    decision = resolve(
        "rev",
        ["a", "b"],
        [FiredAction("a", "prefer_agent", (None,)), FiredAction("b", "prefer_agent", ("alice",))],
    )
    assert decision.prefer_agent == "alice"


def test_tags_and_replies_are_ordered_unions() -> None:
    decision = resolve(
        "rev",
        ["a", "b"],
        [
            FiredAction("a", "tag", ("x",)),
            FiredAction("a", "auto_reply", ("hello",)),
            FiredAction("b", "tag", ("y",)),
            FiredAction("b", "tag", ("x",)),
            FiredAction("b", "auto_reply", ("hello",)),
        ],
    )
    assert decision.tags == ("x", "y") and decision.auto_replies == ("hello",)


def test_nothing_fired_decides_nothing() -> None:
    decision = resolve("rev", [], [])
    assert (
        decision.team is None and decision.priority is None and decision.tags == () and decision.fired == ()
    )


def test_prefer_agent_reads_its_field_from_the_facts() -> None:
    rules = ruleset('rule r when true then assign_team "vip" prefer_agent customer.owner end')
    assert rules.decide({"customer.owner": "alice"}).prefer_agent == "alice"
    missing = rules.decide({})
    assert missing.prefer_agent is None
    assert missing.actions[1] == FiredAction("r", "prefer_agent", (None,))


def test_plugin_actions_are_reported_with_their_rule_and_arguments() -> None:
    catalogue = Catalogue.core().extended(
        actions=[ActionSpec("create_ticket", (ArgType.TEXT, ArgType.NUMBER), "open a ticket")]
    )
    rules = ruleset(
        'rule r when true then create_ticket "refund" customer.ltv tag "t" end', catalogue=catalogue
    )
    decision = rules.decide({"customer.ltv": 42})
    assert decision.plugin_actions == (FiredAction("r", "create_ticket", ("refund", 42)),)
    assert [a.name for a in decision.actions] == ["create_ticket", "tag"]


def test_stop_is_not_reported_as_an_action() -> None:
    assert [a.name for a in ruleset('rule r when true then tag "x" stop end').decide({}).actions] == ["tag"]


def test_a_decision_serialises_to_json() -> None:
    rules = ruleset(
        'rule r when true then transfer "risk-control" set_priority "urgent" tag "s" auto_reply "hi" end'
    )
    data = json.loads(json.dumps(rules.decide({}).to_dict()))
    assert data["team"] == "risk-control" and data["routing"] == "transfer" and data["priority"] == 200
    assert data["fired"] == ["r"] and data["tags"] == ["s"] and data["auto_replies"] == ["hi"]
    assert data["actions"][0] == {"rule": "r", "action": "transfer", "args": ["risk-control"]}
