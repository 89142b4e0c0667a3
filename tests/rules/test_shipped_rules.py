"""The rules shipped in rules/ load with the configured teams and their inline tests pass."""

from __future__ import annotations

import re
from pathlib import Path

from kefu_host.rules import load_rules, run_tests, untested_rules
from kefu_host.rules.wordlists import parse_word_list
from tests.rules.conftest import TEAMS

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_rules_load_and_every_rule_is_tested() -> None:
    rules = load_rules(ROOT / "rules", teams=TEAMS)
    results = run_tests(rules)
    assert results and all(result.passed for result in results)
    assert untested_rules(rules, results) == ()
    assert rules.default_rules == ("default.general",)


def test_the_sensitive_list_is_a_real_mixed_list() -> None:
    words = parse_word_list((ROOT / "rules/lists/sensitive.txt").read_bytes(), "sensitive.txt")
    chinese = [w for w in words if re.search(r"[\u4e00-\u9fff]", w)]
    english = [w for w in words if re.fullmatch(r"[A-Za-z' ]+", w)]
    assert len(words) >= 60 and len(chinese) >= 30 and len(english) >= 20
    assert len(set(w.casefold() for w in words)) == len(words)


def test_the_shipped_routing_decisions() -> None:
    rules = load_rules(ROOT / "rules", teams=TEAMS)
    assert rules.decide({"message.text": "你们这是诈骗，我要报警"}).team == "risk-control"
    assert rules.decide({"customer.ltv": 12000, "customer.owner": "amy"}).prefer_agent == "amy"
    assert rules.decide({"message.lang": "en-GB", "message.text": "hi"}).team == "en-desk"
    assert rules.decide({"queue.length": {"support": 51}}).is_overflow
    assert rules.decide({}).team == "support"
