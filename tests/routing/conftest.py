"""Fixtures for the rules inside a running host."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.chat.conftest import Host

ROUTING = """
group routing match first

rule risk.words priority 900 in group routing
  when message.text contains_any ["诈骗", "scam"]
  then transfer "risk-control" set_priority "urgent" tag "sensitive"
end

rule vip.ltv priority 500 in group routing
  when customer.ltv >= 10000
  then assign_team "vip"
end

rule default.support priority -1000 in group routing
  when true
  then assign_team "support"
end
"""


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    path = tmp_path / "rules"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def write_rules(rules_dir: Path) -> Callable[..., Path]:
    def write(text: str = ROUTING, name: str = "routing.rule") -> Path:
        path = rules_dir / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
def start_host(start_app: Callable[..., Any]) -> Callable[..., Any]:
    async def start(extra: str = "", **kwargs: Any) -> Host:
        return Host(await start_app(extra, **kwargs))

    return start
