"""The documentation keeps up with the code: every config key is described."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

from kefu_host.config import Config

DOCS = Path(__file__).resolve().parents[1] / "docs"


def config_keys() -> set[str]:
    keys = set()
    for section, hint in typing.get_type_hints(Config).items():
        if dataclasses.is_dataclass(hint):
            keys |= {f"{section}.{f.name}" for f in dataclasses.fields(hint) if f.name != "options"}
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
