"""Typed keys for everything the app holds. Values that change at run time live inside holder objects.

The types are imported for checkers only, so any module can import these keys without import cycles.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    import pluggy

    from kefu_host.attachments.storage import FileStore
    from kefu_host.authguard import AuthGuard
    from kefu_host.chat.runtime import ChatRuntime
    from kefu_host.config import Config
    from kefu_host.events.runtime import EventsRuntime
    from kefu_host.health import Lifecycle
    from kefu_host.hookcall import Hooks
    from kefu_host.plugin_host import Host
    from kefu_host.metrics import MetricsOff
    from kefu_host.plugins import PluginRegistry
    from kefu_host.routing.runtime import RulesRuntime
    from kefu_host.sighup import Sighup
    from kefu_host.sockets import OpenSockets
    from kefu_host.store import Store
    from kefu_host.tracing import Tracing
    from kefu_host.webhooks.outbox import Outbox
    from kefu_host.web import WebUI

CONFIG: web.AppKey[Config] = web.AppKey("config", "Config")
LIFECYCLE: web.AppKey[Lifecycle] = web.AppKey("lifecycle", "Lifecycle")
PLUGIN_MANAGER: web.AppKey[pluggy.PluginManager] = web.AppKey("plugin_manager", "pluggy.PluginManager")
PLUGINS: web.AppKey[PluginRegistry] = web.AppKey("plugins", "PluginRegistry")
HOOKS: web.AppKey[Hooks] = web.AppKey("hooks", "Hooks")
PLUGIN_HOST: web.AppKey[Host] = web.AppKey("plugin_host", "Host")
STORE: web.AppKey[Store] = web.AppKey("store", "Store")
SOCKETS: web.AppKey[OpenSockets] = web.AppKey("sockets", "OpenSockets")
CHAT: web.AppKey[ChatRuntime] = web.AppKey("chat", "ChatRuntime")
RULES: web.AppKey[RulesRuntime] = web.AppKey("rules", "RulesRuntime")
EVENTS: web.AppKey[EventsRuntime] = web.AppKey("events", "EventsRuntime")
OUTBOX: web.AppKey[Outbox] = web.AppKey("outbox", "Outbox")
AUTH_GUARD: web.AppKey[AuthGuard] = web.AppKey("auth_guard", "AuthGuard")
WEB: web.AppKey[WebUI] = web.AppKey("web", "WebUI")
ATTACHMENTS: web.AppKey[FileStore] = web.AppKey("attachments", "FileStore")
SIGHUP: web.AppKey[Sighup] = web.AppKey("sighup", "Sighup")
#: What the routing rules take for now (absent: the system clock); tests set a fake one.
CLOCK: web.AppKey[Callable[[], dt.datetime]] = web.AppKey("clock", "Callable[[], datetime]")
#: The app's metrics (a :class:`~kefu_host.metrics.Metrics`, or the do-nothing base when they are off).
METRICS: web.AppKey[MetricsOff] = web.AppKey("metrics", "MetricsOff")
TRACING: web.AppKey[Tracing] = web.AppKey("tracing", "Tracing")
