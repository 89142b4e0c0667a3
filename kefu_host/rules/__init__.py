"""Routing rules: the ``rules/*.rule`` language, its loader, decisions and hot reload.

The host needs only what is exported here: :func:`load_rules` (or a :class:`RulesReloader` with its
:class:`RuleSetHolder`), then ``holder.current.decide(facts)``.
"""

from __future__ import annotations

from kefu_host.rules.decision import Decision, FiredAction
from kefu_host.rules.errors import RuleError, RuleSetError
from kefu_host.rules.explain import Explanation, NodeResult, RuleExplanation
from kefu_host.rules.facts import Facts, facts_from_json, time_facts
from kefu_host.rules.inline_tests import TestResult, run_tests, untested_rules
from kefu_host.rules.loader import compute_revision, load_rules
from kefu_host.rules.reloader import ReloadOutcome, RuleSetHolder, RulesReloader
from kefu_host.rules.ruleset import RuleInfo, RuleSet
from kefu_host.rules.schema import ActionSpec, ArgType, Catalogue, FieldSpec, FieldType

__all__ = [
    "ActionSpec",
    "ArgType",
    "Catalogue",
    "Decision",
    "Explanation",
    "Facts",
    "FieldSpec",
    "FieldType",
    "FiredAction",
    "NodeResult",
    "ReloadOutcome",
    "RuleError",
    "RuleExplanation",
    "RuleInfo",
    "RuleSet",
    "RuleSetError",
    "RuleSetHolder",
    "RulesReloader",
    "TestResult",
    "compute_revision",
    "facts_from_json",
    "load_rules",
    "run_tests",
    "time_facts",
    "untested_rules",
]
