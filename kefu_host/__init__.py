"""kefu-host: a self-hosted customer-service host that closes the loop with business systems."""

from __future__ import annotations

import pluggy

__version__ = "0.1.0"

#: Marker for plugin hook implementations: ``@hookimpl def kefu_startup(app): ...``.
hookimpl = pluggy.HookimplMarker("kefu_host")

__all__ = ["__version__", "hookimpl"]
