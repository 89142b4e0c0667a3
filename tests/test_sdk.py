"""Plugins see only ``kefu_host.sdk``: the bundled ones import nothing else of the host, and the SDK exports work."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import kefu_host.sdk as sdk

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"


def host_imports_beyond_sdk(source: str) -> list[str]:
    """Each import of a ``kefu_host`` module other than ``kefu_host.sdk`` in ``source``, as ``line: module``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "kefu_host":
                modules = [f"kefu_host.{alias.name}" for alias in node.names]
            else:
                modules = [node.module]
        else:
            continue
        for module in modules:
            if (module == "kefu_host" or module.startswith("kefu_host.")) and module != "kefu_host.sdk":
                found.append(f"{node.lineno}: {module}")
    return found


def test_bundled_plugins_import_only_the_sdk() -> None:
    files = sorted(PLUGINS.rglob("*.py"))
    assert len(files) >= 10, "the bundled plugins were not found"
    offenders = {
        str(path.relative_to(PLUGINS)): bad
        for path in files
        if (bad := host_imports_beyond_sdk(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


@pytest.mark.parametrize(
    "source",
    [
        "from kefu_host.keys import CHAT",
        "import kefu_host.chat.values",
        "from kefu_host import hookimpl",
        "def f():\n    from kefu_host.plugin_db import open_store",
        "if TYPE_CHECKING:\n    from kefu_host.chat.runtime import ChatRuntime",
    ],
)
def test_the_scan_finds_imports_past_the_sdk(source: str) -> None:
    assert host_imports_beyond_sdk(source) != []


@pytest.mark.parametrize(
    "source",
    ["from kefu_host.sdk import hookimpl", "import kefu_host.sdk", "from kefu_host import sdk",
     "from .store import TicketStore", "import aiohttp"],
)
def test_the_scan_lets_the_sdk_and_the_rest_through(source: str) -> None:
    assert host_imports_beyond_sdk(source) == []


def test_every_exported_name_exists() -> None:
    assert sorted(sdk.__all__) == sorted(set(sdk.__all__))
    missing = [name for name in sdk.__all__ if not hasattr(sdk, name)]
    assert missing == []


def test_internals_md_names_every_export_and_every_part_of_the_host() -> None:
    text = (PLUGINS.parent / "docs" / "internals.md").read_text(encoding="utf-8")
    assert [name for name in sdk.__all__ if f"`{name}`" not in text and f"`{name}," not in text
            and f", `{name}`" not in text] == []
    members = [m for m in dir(sdk.PluginHost) if not m.startswith("_")]
    members += ["customers", "conversations", "agents", "name", "log"]
    assert [m for m in members if f"host.{m}" not in text] == []
    for part, cls in (("customers", sdk.Customers), ("conversations", sdk.Conversations), ("agents", sdk.Agents)):
        methods = [m for m in dir(cls) if not m.startswith("_")]
        assert [m for m in methods if f"host.{part}.{m}(" not in text and f"`{m}(" not in text
                and f", {m}(" not in text] == [], part
