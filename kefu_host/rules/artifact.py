"""A built rule set as bytes and small values (:class:`Artifact`): what a build hands to the host.

A worker process builds big rule sets (see :mod:`~kefu_host.rules.offload`). What it returns must be cheap
to send and to turn back into a rule set without pausing the event loop, so everything large is pickled in
chunks: no single ``pickle.loads`` (a C call that holds the GIL throughout) has much to do, and a thread that
unpacks chunk after chunk lets the loop run between them.

The syntax tree is kept only as those bytes. Decisions never read it; explanations and inline tests unpack it
when they run. Bytes are invisible to the garbage collector, where a live tree of a large set (millions of
objects) made every full collection of the host walk it again.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from kefu_host.rules import nodes as n
from kefu_host.rules.checker import CheckedSet
from kefu_host.rules.program import CompiledRules, Program, Scanner, link
from kefu_host.rules.schema import TEAM_ACTIONS, Catalogue

#: Items per pickled chunk: unpacking one takes milliseconds, not the hundreds a whole large set takes.
CHUNK = 100
_T = TypeVar("_T")


@dataclass(frozen=True)
class Detail:
    """The checked syntax of a rule set: what explanations and inline tests read."""

    rules: tuple[n.Rule, ...]
    groups: Mapping[str, n.GroupDef]
    lists: Mapping[str, tuple[str, ...]]
    catalogue: Catalogue


@dataclass(frozen=True)
class Artifact:
    """Everything :meth:`RuleSet.from_artifact <kefu_host.rules.ruleset.RuleSet.from_artifact>` needs."""

    revision: str
    directory: str
    files: tuple[str, ...]
    code: bytes
    #: Chunks of (name, value) constants; word scanners are in ``scanners``.
    constants: tuple[bytes, ...]
    #: (name, bound, chunks of its word lists) per scanner: one may hold thousands of lists.
    scanners: tuple[tuple[str, bool, tuple[bytes, ...]], ...]
    order: tuple[int, ...]
    fields_used: frozenset[str]
    field_params: Mapping[str, frozenset[str]]
    #: The pickled :class:`~kefu_host.rules.ruleset.RuleInfo` of every rule, in evaluation order.
    rules: tuple[bytes, ...]
    groups: Mapping[str, str]
    lists: Mapping[str, int]
    test_names: tuple[str, ...]
    #: Team name to the rules (in file order) whose assign_team, transfer or overflow_to names it.
    routes: Mapping[str, tuple[str, ...]]
    #: The pickled :class:`Detail` header (groups, lists, catalogue), then chunks of rules.
    detail: tuple[bytes, ...]
    #: Chunks of the inline tests.
    tests: tuple[bytes, ...]


def pack(
    revision: str,
    directory: str,
    files: Iterable[str],
    checked: CheckedSet,
    compiled: CompiledRules,
    lists: Mapping[str, tuple[str, ...]],
    catalogue: Catalogue,
    infos: Sequence[Any],
) -> Artifact:
    """Pack a checked, compiled set; ``infos`` describe the rules in evaluation order."""
    routes: dict[str, list[str]] = {}
    for rule in checked.rules:
        for action in rule.actions:
            if action.name in TEAM_ACTIONS and action.args and isinstance(action.args[0], n.Lit):
                routes.setdefault(str(action.args[0].value), []).append(rule.id)
    head = (dict(checked.groups), dict(lists), catalogue)
    constants = [(name, value) for name, value in compiled.constants if not isinstance(value, Scanner)]
    scanners = tuple(
        (name, value.bound, _chunks(value.lists))
        for name, value in compiled.constants
        if isinstance(value, Scanner)
    )
    return Artifact(
        revision=revision,
        directory=directory,
        files=tuple(files),
        code=compiled.code,
        constants=_chunks(constants),
        scanners=scanners,
        order=compiled.order,
        fields_used=compiled.fields_used,
        field_params=dict(compiled.field_params),
        rules=_chunks(infos),
        groups={name: group.mode for name, group in checked.groups.items()},
        lists={name: len(words) for name, words in lists.items()},
        test_names=tuple(test.name for test in checked.tests),
        routes={team: tuple(ids) for team, ids in routes.items()},
        detail=(pickle.dumps(head, pickle.HIGHEST_PROTOCOL), *_chunks(checked.rules)),
        tests=_chunks(checked.tests),
    )


def unpack_program(artifact: Artifact) -> Program:
    """Link the artifact's compiled rules, one chunk of constants at a time."""
    constants = _unchunk(artifact.constants)
    constants += tuple((name, Scanner(_unchunk(lists), bound)) for name, bound, lists in artifact.scanners)
    compiled = CompiledRules(
        artifact.code, constants, artifact.order, artifact.fields_used, artifact.field_params
    )
    return link(compiled)


def unpack_infos(artifact: Artifact) -> tuple[Any, ...]:
    return _unchunk(artifact.rules)


def unpack_detail(detail: Sequence[bytes]) -> Detail:
    """The syntax from :attr:`Artifact.detail`."""
    head, *chunks = detail
    groups, lists, catalogue = pickle.loads(head)
    return Detail(_unchunk(chunks), groups, lists, catalogue)


def unpack_tests(tests: Sequence[bytes]) -> tuple[n.TestDef, ...]:
    """The inline tests from :attr:`Artifact.tests`."""
    return _unchunk(tests)


def _chunks(items: Sequence[_T]) -> tuple[bytes, ...]:
    protocol = pickle.HIGHEST_PROTOCOL
    return tuple(pickle.dumps(tuple(items[i : i + CHUNK]), protocol) for i in range(0, len(items), CHUNK))


def _unchunk(chunks: Iterable[bytes]) -> tuple[Any, ...]:
    return tuple(item for chunk in chunks for item in pickle.loads(chunk))
