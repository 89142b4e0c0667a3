"""Helpers for rule tests: build rule sets from strings or write them into a real directory."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest

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


def write(directory: Path, files: Mapping[str, str | bytes]) -> None:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(textwrap.dedent(text), encoding="utf-8")
