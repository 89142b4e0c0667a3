"""The documentation keeps up with the code: every config key is described."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from pathlib import Path

from kefu_host.config import Config

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _keys(prefix: str, cls: type) -> set[str]:
    keys = set()
    for name, hint in typing.get_type_hints(cls).items():
        if name in ("options", "settings"):
            continue
        keys.add(f"{prefix}.{name}")
        if dataclasses.is_dataclass(hint):
            keys |= _keys(f"{prefix}.{name}", hint)
        elif typing.get_origin(hint) in (Mapping, dict) and dataclasses.is_dataclass(typing.get_args(hint)[1]):
            keys |= _keys(f"{prefix}.{name}.NAME", typing.get_args(hint)[1])
    return keys


def config_keys() -> set[str]:
    keys = set()
    for section, hint in typing.get_type_hints(Config).items():
        if dataclasses.is_dataclass(hint):
            keys |= _keys(section, hint)
    return keys


def test_every_config_key_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    missing = sorted(k for k in config_keys() if f"`{k}`" not in text)
    assert missing == []


def test_every_plugin_table_key_is_documented() -> None:
    from kefu_host.config import HOST_PLUGIN_KEYS

    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert all(f"`plugins.NAME.{k}`" in text for k in HOST_PLUGIN_KEYS)


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    root = DOCS.parent
    readme = (root / "README.md").read_text(encoding="utf-8")
    ci = (root / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line for line in readme.splitlines() if line.startswith("python3 -m venv")]
    assert len(commands) == 2, "the quickstart has exactly two set-up commands"
    assert commands[1] in ci.splitlines()
