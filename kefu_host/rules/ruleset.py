"""An immutable, compiled rule set: the one object the host swaps on reload and asks for decisions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kefu_host.rules import nodes as n
from kefu_host.rules.artifact import Artifact, unpack_detail, unpack_infos, unpack_program, unpack_tests
from kefu_host.rules.decision import Decision, make_decision
from kefu_host.rules.explain import Explainer, Explanation
from kefu_host.rules.program import Program


@dataclass(frozen=True)
class RuleInfo:
    """What ops and the admin API see of one rule."""

    id: str
    priority: int
    group: str | None
    desc: str | None
    owner: str | None
    location: str
    actions: tuple[str, ...]
    is_default: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "priority": self.priority,
            "group": self.group,
            "desc": self.desc,
            "owner": self.owner,
            "location": self.location,
            "actions": list(self.actions),
            "default": self.is_default,
        }


def is_default_rule(rule: n.Rule, groups: Mapping[str, n.GroupDef]) -> bool:
    """A default rule catches what nothing else did: its id starts with ``default.``, or its condition is
    literally ``true`` in a ``match first`` group (so it fires whenever no earlier rule of the group did)."""
    if rule.id.startswith("default."):
        return True
    group = groups.get(rule.group or "")
    return isinstance(rule.cond, n.Const) and rule.cond.value and group is not None and group.mode == "first"


class _Engine:
    """What decisions and explanations need, kept together and out of the dataclass's repr."""

    __slots__ = ("detail", "order", "run", "tests")

    def __init__(self, program: Program, artifact: Artifact) -> None:
        self.run = program.run
        self.order = program.order
        # only the syntax is kept, as bytes: the rest of the artifact is in ``run`` now
        self.detail = artifact.detail
        self.tests = artifact.tests


@dataclass(frozen=True, eq=False)
class RuleSet:
    """Rules compiled from one snapshot of the rules directory. Safe to share between tasks and threads."""

    revision: str
    directory: str
    #: Rules in evaluation order.
    rules: tuple[RuleInfo, ...]
    #: Group name to ``"first"`` or ``"all"``.
    groups: Mapping[str, str]
    #: List name to how many words it holds.
    lists: Mapping[str, int]
    #: Names of the inline tests (:attr:`tests` has the tests themselves).
    test_names: tuple[str, ...]
    #: Fact keys the rules read: gather only these (e.g. skip queue statistics nobody reads).
    fields_used: frozenset[str]
    #: Parameters and keys read per field, e.g. ``{"queue.length": frozenset({"support"})}``.
    field_params: Mapping[str, frozenset[str]]
    #: Team to the rules that send conversations there (``assign_team``, ``transfer``, ``overflow_to``).
    routes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: Every file the revision covers (relative paths).
    files: tuple[str, ...] = ()
    _engine: _Engine | None = field(default=None, repr=False)

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> RuleSet:
        """The rule set an artifact describes. Each step is short, so a thread can do this beside the loop."""
        program = unpack_program(artifact)
        return cls(
            revision=artifact.revision,
            directory=artifact.directory,
            rules=unpack_infos(artifact),
            groups=dict(artifact.groups),
            lists=dict(artifact.lists),
            test_names=artifact.test_names,
            fields_used=artifact.fields_used,
            field_params=artifact.field_params,
            routes=dict(artifact.routes),
            files=artifact.files,
            _engine=_Engine(program, artifact),
        )

    @property
    def rule_ids(self) -> frozenset[str]:
        return frozenset(rule.id for rule in self.rules)

    @property
    def default_rules(self) -> tuple[str, ...]:
        return tuple(rule.id for rule in self.rules if rule.is_default)

    @property
    def tests(self) -> tuple[n.TestDef, ...]:
        """The inline test blocks, unpacked on each access (the host keeps only their bytes)."""
        return unpack_tests(self._built().tests)

    def decide(self, facts: Mapping[str, Any]) -> Decision:
        """Evaluate the rules against ``facts``; never does I/O."""
        engine = self._engine
        assert engine is not None, "a RuleSet is built by the loader"
        return make_decision(self.revision, *engine.run(facts))

    def explain(self, facts: Mapping[str, Any]) -> Explanation:
        """Every rule with its status and the value of each condition node, plus the decision.

        Unpacks the syntax tree each time: for a set of thousands of rules, call it from a thread."""
        engine = self._built()
        detail = unpack_detail(engine.detail)
        explainer = Explainer(detail.catalogue, detail.lists)
        rules = explainer.rules(detail.rules, engine.order, detail.groups, facts)
        return Explanation(self.revision, rules, self.decide(facts), dict(facts))

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description for the admin API."""
        return {
            "revision": self.revision,
            "directory": self.directory,
            "rules": [rule.to_dict() for rule in self.rules],
            "groups": dict(self.groups),
            "lists": dict(self.lists),
            "tests": list(self.test_names),
            "fields_used": sorted(self.fields_used),
            "files": list(self.files),
        }

    def _built(self) -> _Engine:
        assert self._engine is not None, "a RuleSet is built by the loader"
        return self._engine


def rule_info(rule: n.Rule, groups: Mapping[str, n.GroupDef]) -> RuleInfo:
    """What ops and the admin API see of ``rule``."""
    return RuleInfo(
        rule.id,
        rule.priority,
        rule.group,
        rule.desc,
        rule.owner,
        f"{rule.loc.path}:{rule.loc.line}:{rule.loc.column}",
        tuple(action.name for action in rule.actions),
        is_default_rule(rule, groups),
    )
