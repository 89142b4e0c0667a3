"""Payment outcomes, a rule field for customers whose payments keep failing, and idempotent refunds.

Load it with ``kefu-host --plugin ./plugins/payments`` or ``[plugins] load = ["plugins/payments"]``; settings,
events, the ``payment.recent_failures`` rule field and the provider contract are described in README.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .plugin import PaymentsPlugin
from .settings import parse_settings


def kefu_plugin(settings: Mapping[str, Any]) -> PaymentsPlugin:
    """Called by the host with ``[plugins.payments]`` and command-line JSON; bad settings raise ValueError."""
    return PaymentsPlugin(parse_settings(settings))
