"""Helpers for rule tests: build rule sets from strings or write them into a real directory."""

from __future__ import annotations

import re
import shutil
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import re2

from kefu_host.rules import Catalogue, RuleSet, RuleSetError
from kefu_host.rules.loader import build_ruleset

#: The teams the shipped kefu.toml declares.
TEAMS = ("support", "vip", "risk-control", "backup", "en-desk")


def ruleset(
    source: str = "",
    *,
    files: Mapping[str, str] | None = None,
    teams: tuple[str, ...] | None = TEAMS,
    catalogue: Catalogue | None = None,
    run_inline_tests: bool = True,
) -> RuleSet:
    """A rule set from one ``a.rule`` (``source``) and/or more files, errors shown as ``rules/<file>``."""
    contents = {"a.rule": textwrap.dedent(source)} if source else {}
    contents.update({name: textwrap.dedent(text) for name, text in (files or {}).items()})
    return build_ruleset(
        {name: text.encode() for name, text in contents.items()},
        catalogue or Catalogue.core(),
        teams,
        display_root="rules",
        run_inline_tests=run_inline_tests,
    )


def errors(source: str = "", **kwargs: object) -> list[str]:
    """The headlines (``file:line:col: message``) of every error the rule set has; fails if it loads."""
    with pytest.raises(RuleSetError) as caught:
        ruleset(source, **kwargs)  # type: ignore[arg-type]
    return [error.headline() for error in caught.value.errors]


def tagging_rules(count: int) -> str:
    """``count`` generated tagging rules; 350 of them are over the size that is built in a worker process."""
    return "\n".join(
        f'rule gen.r{i} priority {i % 50} desc "generated rule {i}, tagging topic {i} for follow-up"\n'
        f'  when message.text contains_any ["x{i}y", "话题{i}号"] or customer.tags contains "t{i}"\n'
        f'  then tag "t{i}"\nend'
        for i in range(count)
    )


SHIPPED = Path(__file__).resolve().parents[2] / "rules"
#: The first error of the shipped rules with vip.rule cut off after "or" on line 6 (path in the directory).
VIP_TRUNCATED = "vip.rule:6:33: unexpected end of file, expected '(', 'false', 'not', 'true' or a field"


def shipped_with_vip_truncated(directory: Path) -> None:
    """The shipped rules in ``directory``, vip.rule truncated mid-condition as a half-synced copy would be."""
    shutil.copytree(SHIPPED, directory, dirs_exist_ok=True)
    vip = directory / "vip.rule"
    lines = vip.read_text(encoding="utf-8").splitlines(keepends=True)
    vip.write_text("".join(lines[:5]) + lines[5][:32], encoding="utf-8")


def write(directory: Path, files: Mapping[str, str | bytes]) -> None:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(textwrap.dedent(text), encoding="utf-8")


#: A pattern that backtracks for seconds in Python's re on the text below (a visitor can send that text).
CATASTROPHIC = "(a+)+$"
HOSTILE = "a" * 24 + "!"


@pytest.fixture
def regex_engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, Any]]]:
    """Every RE2 search as (pattern, text); Python's ``re`` refuses :data:`CATASTROPHIC`, so a rule regex that
    still reached the backtracking engine fails the test instead of passing by luck."""
    searches: list[tuple[str, Any]] = []
    real_search = re2._Regexp.search

    def spy(self: Any, text: Any, *args: Any) -> Any:
        searches.append((self.pattern, text))
        return real_search(self, text, *args)

    def refuse(real: Any) -> Any:
        def guarded(pattern: Any, *args: Any, **kwargs: Any) -> Any:
            if pattern == CATASTROPHIC:
                raise AssertionError("a rule regex reached Python's backtracking re")
            return real(pattern, *args, **kwargs)

        return guarded

    monkeypatch.setattr(re2._Regexp, "search", spy)
    for name in ("compile", "search", "match", "fullmatch"):
        monkeypatch.setattr(re, name, refuse(getattr(re, name)))
    yield searches
