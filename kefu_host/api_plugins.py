"""``GET /api/plugins`` (every plugin, its hooks, status and per-hook behaviour) and ``POST /api/plugins/reload``.

A reload reads kefu.toml (and the environment) again and applies ``[plugins.NAME] enabled`` to the running host:
a loaded plugin turned off stops being called (its hooks, actions and routes), one turned back on resumes. Nothing
else in the file is applied. SIGHUP does the same (with the rules' reload). A plugin that was off when the host
started was never imported: turning it on needs a restart, and the answer says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import web

from kefu_host.config import Config, ConfigError, load_config
from kefu_host.hookcall import Hooks
from kefu_host.http import admin_only, error_response, json_response
from kefu_host.keys import CONFIG, HOOKS, PLUGINS, SIGHUP
from kefu_host.plugin_registry import PluginRegistry

log = structlog.get_logger("kefu_host.plugins")


@dataclass(frozen=True)
class EnablementReport:
    enabled: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    #: turned on in the file but never loaded (it was off at startup): takes a restart
    restart_needed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "disabled": self.disabled, "restart_needed": self.restart_needed}


def apply_enablement(config: Config, registry: PluginRegistry, hooks: Hooks) -> EnablementReport:
    """Make each plugin's status follow ``[plugins.NAME] enabled`` in ``config``; failed and blocked ones stay."""
    report = EnablementReport()
    for record in registry.records.values():
        wanted = config.plugins.for_plugin(record.name).enabled
        if record.status == "loaded" and not wanted:
            record.status, record.reason = "disabled", f"plugins.{record.name}.enabled = false (applied at run time)"
            report.disabled.append(record.name)
        elif record.status == "disabled" and wanted:
            if record.registered:
                record.status, record.reason = "loaded", None
                report.enabled.append(record.name)
            else:
                report.restart_needed.append(record.name)
    hooks.refresh()
    return report


async def reload_enablement(app: web.Application) -> EnablementReport:
    """Read the config file again and apply plugin enablement; ConfigError when the file does not load."""
    source = app[CONFIG].source
    if source is None:
        raise ConfigError("defaults", "", "the host runs without a config file: nothing to reload")
    config = await asyncio.to_thread(load_config, source)
    report = apply_enablement(config, app[PLUGINS], app[HOOKS])
    log.info("plugin enablement reloaded", **report.to_dict())
    return report


@admin_only
async def list_plugins(request: web.Request) -> web.Response:
    return json_response({"plugins": request.app[PLUGINS].to_list()})


@admin_only
async def reload_plugins(request: web.Request) -> web.Response:
    try:
        report = await reload_enablement(request.app)
    except ConfigError as exc:
        return error_response(422, "invalid_config", str(exc))
    return json_response({**report.to_dict(), "plugins": request.app[PLUGINS].to_list()})


async def sighup_ctx(app: web.Application) -> AsyncIterator[None]:
    async def on_sighup() -> None:
        try:
            await reload_enablement(app)
        except ConfigError as exc:
            log.error("plugin enablement not reloaded", error=str(exc))

    app[SIGHUP].add(on_sighup)
    yield
    app[SIGHUP].discard(on_sighup)


def setup(app: web.Application) -> None:
    app.router.add_get("/api/plugins", list_plugins)
    app.router.add_post("/api/plugins/reload", reload_plugins)
    app.cleanup_ctx.append(sighup_ctx)
