"""Outbound webhooks: the host's own signed events, sent to configured endpoints with retries (docs/webhooks.md).

This package is the built-in plugin ``core.webhooks``: the host loads it by module name and calls
:func:`kefu_plugin` like any plugin's factory.
"""

from __future__ import annotations

from kefu_host.webhooks.plugin import kefu_plugin

__all__ = ["kefu_plugin"]
