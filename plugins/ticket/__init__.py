"""Tickets on their own database, opened from a conversation and kept in step with an external ticket system.

Load it with ``kefu-host --plugin ./plugins/ticket`` or ``[plugins] load = ["plugins/ticket"]``; settings,
actions, the ``ticket.changed`` event and the ``ticket.open_count`` rule field are described in README.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .plugin import TicketPlugin
from .settings import parse_settings


def kefu_plugin(settings: Mapping[str, Any]) -> TicketPlugin:
    """Called by the host with ``[plugins.ticket]`` and command-line JSON; bad settings raise ValueError."""
    return TicketPlugin(parse_settings(settings))
