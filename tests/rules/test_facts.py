"""Facts: JSON in, flat dotted keys out; reading fields with parameters and keys."""

from __future__ import annotations

import datetime as dt

import pytest

from kefu_host.rules.facts import dynamic_contains, facts_from_json, folded_list, read_fact, time_facts
from kefu_host.rules.nodes import FieldRef, Loc

LOC = Loc("a.rule", 1, 1)


def test_nested_and_flat_json_give_the_same_facts() -> None:
    nested = {"customer": {"ltv": 1, "attributes": {"plan": "pro"}}, "queue": {"length": {"support": 3}}}
    flat = {"customer.ltv": 1, "customer.attributes": {"plan": "pro"}, "queue.length": {"support": 3}}
    assert facts_from_json(nested) == flat
    assert facts_from_json(flat) == flat
    assert facts_from_json({"customer": {"ltv": 2}, "message.text": "x"}) == {
        "customer.ltv": 2,
        "message.text": "x",
    }


def test_facts_must_be_an_object() -> None:
    with pytest.raises(ValueError, match="JSON object"):
        facts_from_json([1])


def test_read_fact_follows_parameters_and_keys() -> None:
    facts = {"queue.length": {"support": 4}, "customer.attributes": {"plan": "pro"}, "customer.ltv": 5}
    assert read_fact(facts, FieldRef("queue.length", LOC, param="support")) == 4
    assert read_fact(facts, FieldRef("queue.length", LOC, param="vip")) is None
    assert read_fact(facts, FieldRef("customer.attributes", LOC, key="plan")) == "pro"
    assert read_fact(facts, FieldRef("customer.ltv", LOC)) == 5
    assert read_fact({"queue.length": 4}, FieldRef("queue.length", LOC, param="support")) is None


def test_time_facts() -> None:
    moment = dt.datetime(2024, 11, 24, 23, 30, tzinfo=dt.UTC)  # a Sunday
    assert time_facts(moment) == {"time.hour": 23, "time.weekday": "sun"}


def test_folded_lists_and_dynamic_contains() -> None:
    assert folded_list(["A", 1, "b"]) == frozenset({"a", "b"})
    assert folded_list("ab") is None
    assert dynamic_contains("Hello", "ell") and dynamic_contains(("X",), "x")
    assert not dynamic_contains(5, "5")
