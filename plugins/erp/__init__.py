"""Inventory and order lookups in the company's ERP that an agent calls from the console like local methods.

Load it with ``kefu-host --plugin ./plugins/erp`` or ``[plugins] load = ["plugins/erp"]``; the settings, the
actions and the HTTP contract the ERP must speak are described in README.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .plugin import ErpPlugin
from .settings import parse_settings


def kefu_plugin(settings: Mapping[str, Any]) -> ErpPlugin:
    """Called by the host with ``[plugins.erp]`` and command-line JSON; bad settings raise ValueError."""
    return ErpPlugin(parse_settings(settings))
