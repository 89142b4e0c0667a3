"""docs/rules.md stays true: examples load, shown errors are the real ones, the catalogue is listed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kefu_host.rules import Catalogue, RuleSetError
from kefu_host.rules.loader import build_ruleset
from tests.rules.conftest import TEAMS

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs/rules.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```([\w-]*)\n(.*?)^```$", DOC, flags=re.S | re.M)
LISTS = {"lists/sensitive.txt": (ROOT / "rules/lists/sensitive.txt").read_bytes()}


def load(source: str) -> object:
    return build_ruleset({"a.rule": source.encode(), **LISTS}, Catalogue.core(), TEAMS, display_root="rules")


def test_the_page_has_examples_of_both_kinds() -> None:
    kinds = [kind for kind, _ in BLOCKS]
    assert kinds.count("rule") >= 6 and kinds.count("rule-invalid") >= 2


@pytest.mark.parametrize("source", [body for kind, body in BLOCKS if kind == "rule"])
def test_every_rule_example_loads_and_passes_its_tests(source: str) -> None:
    load(source)


def test_every_invalid_example_fails_with_the_error_shown_after_it() -> None:
    pairs = [(BLOCKS[i][1], BLOCKS[i + 1]) for i, (kind, _) in enumerate(BLOCKS) if kind == "rule-invalid"]
    assert pairs
    for source, (next_kind, shown) in pairs:
        assert next_kind == "text"
        with pytest.raises(RuleSetError) as caught:
            load(source)
        assert caught.value.errors[0].render() == shown.rstrip("\n")


def test_every_core_field_and_action_is_documented() -> None:
    core = Catalogue.core()
    for name, spec in core.fields.items():
        shown = f"`{name}({spec.param})`" if spec.param else f"`{name}`"
        assert shown in DOC, name
    for name in core.actions:
        assert f"`{name}" in DOC, name
