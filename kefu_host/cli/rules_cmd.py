"""``kefu-host rules check|test|explain|publish``: validate a rules directory, run its tests, explain a decision,
publish it to the database (:mod:`kefu_host.cli.rules_publish`).

``DIR`` defaults to ``rules.directory`` of the configuration and teams come from ``chat.teams``. Given a
``DIR`` and no configuration file, team names are not checked unless ``--teams`` lists them, so a rules
repository can run ``kefu-host rules check .`` in its own CI.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Collection
from pathlib import Path
from typing import Any, TextIO

from kefu_host.cli import rules_publish
from kefu_host.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    config_path,
    load_config_from_args,
    load_host_plugins,
    plugin_requests,
)
from kefu_host.config import resolve_path
from kefu_host.hookcall import Hooks
from kefu_host.routing.catalogue import build_catalogue
from kefu_host.rules import Catalogue, RuleSet, RuleSetError, facts_from_json, load_rules
from kefu_host.rules.explain import MISSING, Explanation, NodeResult
from kefu_host.rules.inline_tests import run_tests, untested_rules


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser("rules", parents=[common], help="check, test, explain and publish the routing rules")
    actions = p.add_subparsers(dest="rules_command", metavar="ACTION", required=True)
    for name, func, text in (
        ("check", run_check, "validate the rules (exit 1 if invalid)"),
        ("test", run_test, "run the inline tests and list rules no test fired"),
        ("explain", run_explain, "show which rules fire for some facts, and why"),
    ):
        q = actions.add_parser(name, parents=[common], help=text, description=text)
        q.add_argument(
            "directory", nargs="?", metavar="DIR", help="rules directory (default: rules.directory)"
        )
        q.add_argument(
            "--teams", metavar="A,B", help="team names to accept (default: chat.teams of the config)"
        )
        if name == "explain":
            q.add_argument("--facts", required=True, metavar="JSON", help="facts as a JSON object, or @FILE")
            q.add_argument("--json", action="store_true", help="print the explanation as JSON")
        q.set_defaults(func=func)
    rules_publish.add_parser(actions, common)


def run_check(args: argparse.Namespace) -> int:
    directory, teams, allow_empty = _target(args)
    try:
        ruleset = load_rules(directory, _catalogue(args), teams, allow_empty=allow_empty)
    except RuleSetError as exc:
        _print_errors(exc, sys.stderr)
        return EXIT_FAILURE
    print(
        f"{directory}: OK, {_count(len(ruleset.rules), 'rule')}, {_count(len(ruleset.groups), 'group')}, "
        f"{_count(len(ruleset.lists), 'list')}, {_count(len(ruleset.test_names), 'test')} passed "
        f"(revision {ruleset.revision[:12]})"
    )
    return EXIT_OK


def run_test(args: argparse.Namespace) -> int:
    directory, teams, allow_empty = _target(args)
    try:
        ruleset = load_rules(
            directory, _catalogue(args), teams, run_inline_tests=False, allow_empty=allow_empty
        )
    except RuleSetError as exc:
        _print_errors(exc, sys.stderr)
        return EXIT_FAILURE
    results = run_tests(ruleset)
    for result in results:
        where = f"{result.loc.path}:{result.loc.line}:{result.loc.column}"
        print(f"{'PASS' if result.passed else 'FAIL'}  {result.name}  ({where})")
        for failure in result.failures:
            print(f"      - {failure}")
    failed = sum(not r.passed for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    untested = untested_rules(ruleset, results)
    if untested:
        print(f"rules no test fired: {', '.join(untested)}")
    else:
        print("every rule fired in at least one test")
    return EXIT_FAILURE if failed else EXIT_OK


def run_explain(args: argparse.Namespace) -> int:
    directory, teams, allow_empty = _target(args)
    try:
        facts = facts_from_json(_read_facts(args.facts))
    except (OSError, ValueError) as exc:
        print(f"kefu-host: --facts: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        ruleset = load_rules(
            directory, _catalogue(args), teams, run_inline_tests=False, allow_empty=allow_empty
        )
    except RuleSetError as exc:
        _print_errors(exc, sys.stderr)
        return EXIT_FAILURE
    explanation = ruleset.explain(facts)
    if args.json:
        print(json.dumps(explanation.to_dict(), ensure_ascii=False, indent=2))
    else:
        print_explanation(explanation, ruleset, sys.stdout)
    return EXIT_OK


def print_explanation(explanation: Explanation, ruleset: RuleSet, out: TextIO) -> None:
    """The human form of ``rules explain``: one block per rule, then the decision."""
    print(f"revision {explanation.revision[:12]}", file=out)
    for rule in explanation.rules:
        group = f", group {rule.group}" if rule.group else ""
        reason = f" - {rule.reason}" if rule.reason else ""
        print(
            f"{rule.status:<12} {rule.rule_id} (priority {rule.priority}{group}) {rule.location}{reason}",
            file=out,
        )
        _print_node(rule.condition, 1, out)
    d = explanation.decision
    team = f"{d.team} ({d.routing} by {d.team_rule})" if d.team else "-"
    print("decision", file=out)
    print(f"  fired:        {', '.join(d.fired) or '-'}", file=out)
    print(f"  team:         {team}", file=out)
    print(f"  priority:     {d.priority if d.priority is not None else '-'}", file=out)
    print(f"  prefer_agent: {d.prefer_agent or '-'}", file=out)
    print(f"  tags:         {', '.join(d.tags) or '-'}", file=out)
    print(f"  auto_replies: {' | '.join(d.auto_replies) or '-'}", file=out)
    plugin = "; ".join(
        f"{a.name} {json.dumps(list(a.args), ensure_ascii=False)} ({a.rule_id})" for a in d.plugin_actions
    )
    print(f"  plugin:       {plugin or '-'}", file=out)


def _print_node(node: NodeResult, depth: int, out: TextIO) -> None:
    detail = ""
    if node.field is not None:
        shown = "missing" if node.fact is MISSING else json.dumps(node.fact, ensure_ascii=False, default=repr)
        detail = (
            f"   [{node.field} = {shown}"
            + (f"; matched {', '.join(node.matched)}" if node.matched else "")
            + "]"
        )
    print(f"{'    ' * depth}{'true ' if node.value else 'false'}  {node.text}{detail}", file=out)
    for child in node.children:
        _print_node(child, depth + 1, out)


def _target(args: argparse.Namespace) -> tuple[Path, Collection[str] | None, bool]:
    """The rules directory, the team names to check against, and whether no rule file at all is accepted
    (``rules.allow_empty``, so the check agrees with the host; without a configuration, no)."""
    teams: Collection[str] | None = None
    if args.teams is not None:
        teams = tuple(t.strip() for t in args.teams.split(",") if t.strip())
    if args.directory is not None and config_path(args) is None:
        return Path(args.directory), teams, False
    config = load_config_from_args(args)
    directory = (
        Path(args.directory) if args.directory is not None else resolve_path(config, config.rules.directory)
    )
    return _shorter(directory), teams if teams is not None else config.chat.teams, config.rules.allow_empty


def _catalogue(args: argparse.Namespace) -> Catalogue:
    """The core catalogue plus the fields and actions of the plugins the host would load with this config."""
    if config_path(args) is None and not plugin_requests(args):
        return Catalogue.core()
    pm, registry = load_host_plugins(args, load_config_from_args(args))
    return build_catalogue(Hooks(pm, registry)).catalogue


def _read_facts(value: str) -> Any:
    text = Path(value[1:]).read_text(encoding="utf-8") if value.startswith("@") else value
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc}") from None


def _print_errors(exc: RuleSetError, out: TextIO) -> None:
    for error in exc.errors:
        print(error.render(), file=out)
    print(f"{_count(len(exc.errors), 'error')}", file=out)


def _shorter(path: Path) -> Path:
    """``path`` relative to the working directory when it is below it, so errors read ``rules/a.rule:3:1``."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' * (number != 1)}"
