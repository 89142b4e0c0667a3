"""The aiohttp application factory: configuration in, a ready-to-run app out.

Resources open and close in ``cleanup_ctx`` generators, in this order: the store, then each feature, then the
plugins' ``kefu_startup``; they close in reverse. ``/readyz`` turns 200 only after all of them are up.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import structlog
from aiohttp import web

from kefu_host import api_plugins, customers_api, health, openapi
from kefu_host import web as web_ui
from kefu_host.attachments import http as attachments_http
from kefu_host.chat import http_api as chat_http
from kefu_host.authguard import AuthGuard
from kefu_host.config import Config, SecretsReport, database_url, secure_config
from kefu_host.config.secrets import development_secrets
from kefu_host.events import http_api as events_http
from kefu_host.events.runtime import events_ctx
from kefu_host.health import Lifecycle
from kefu_host.hookcall import Hooks
from kefu_host.http import error_response, request_context
from kefu_host.keys import (
    AUTH_GUARD,
    CLOCK,
    CONFIG,
    HOOKS,
    LIFECYCLE,
    METRICS,
    PLUGIN_HOST,
    PLUGIN_MANAGER,
    PLUGINS,
    SIGHUP,
    SOCKETS,
    STORE,
    TRACING,
)
from kefu_host.logs import AccessLogger, ServerLogger
from kefu_host.metrics.exposition import new_metrics
from kefu_host.plugin_host import Host
from kefu_host.plugin_registry import PluginRegistry
from kefu_host.plugins import discover, load_plugins, new_plugin_manager
from kefu_host.routing import api as rules_api
from kefu_host.routing.runtime import rules_ctx
from kefu_host.sighup import Sighup
from kefu_host.sockets import OpenSockets
from kefu_host.store import Store, open_store
from kefu_host.tracing import new_tracing
from kefu_host.tracing.http import server_middleware

log = structlog.get_logger("kefu_host.app")

#: How every runner of the app is set up (the CLI's, and the tests').
RUNNER_OPTIONS: dict[str, Any] = {"access_log_class": AccessLogger, "logger": ServerLogger()}

#: The host's own features that are plain plugins (they implement hooks like any other).
BUILTIN_PLUGINS: tuple[str, ...] = ("kefu_host.webhooks",)


def create_app(
    config: Config,
    *,
    plugins: Sequence[tuple[str, Mapping[str, Any]]] = (),
    blocked: Sequence[str] = (),
    entry_points: bool = True,
    clock: Callable[[], dt.datetime] | None = None,
) -> web.Application:
    """Build the app for ``config``; ``plugins`` are extra (path, settings) pairs as given on the command line.

    Secrets the configuration leaves unset are taken from (or generated into) the secrets file first, see
    :mod:`kefu_host.config.secrets`. Raises :class:`~kefu_host.config.ConfigError` for unsafe secrets and
    :class:`~kefu_host.plugins.PluginLoadError` when a ``required`` plugin cannot load. ``clock`` replaces the
    system clock for the routing rules (tests).
    """
    config, secrets_report = secure_config(config)
    if secrets_report is not None:
        log_secrets_report(secrets_report)
    tracing = new_tracing(config.tracing)
    # the tracing middleware only when tracing is on: every middleware costs every request a call
    middlewares = [server_middleware(tracing), request_context] if tracing.enabled else [request_context]
    app = web.Application(middlewares=middlewares, client_max_size=max(1024**2, config.events.max_body_bytes + 1))
    app[CONFIG] = config
    app[TRACING] = tracing
    app[METRICS] = metrics = new_metrics(app, config)
    app[AUTH_GUARD] = AuthGuard(config.auth)
    app[LIFECYCLE] = Lifecycle()
    app[SOCKETS] = OpenSockets(on_open=metrics.socket_opened)
    app[SIGHUP] = Sighup()
    if clock is not None:
        app[CLOCK] = clock
    pm = new_plugin_manager()
    sources = discover(config, plugins, builtins=BUILTIN_PLUGINS, entry_points=entry_points)
    registry = load_plugins(pm, config, sources, blocked)
    app[PLUGIN_MANAGER] = pm
    app[PLUGINS] = registry
    app[PLUGIN_HOST] = host = Host(app, registry)
    app[HOOKS] = Hooks(pm, registry, host, metrics=metrics, tracing=tracing)

    app.router.add_get("/livez", health.livez)
    app.router.add_get("/readyz", health.readyz)
    api_plugins.setup(app)
    _mount_plugin_routes(app)

    app.cleanup_ctx.append(_store_ctx)
    app.cleanup_ctx.append(rules_ctx)
    rules_api.setup(app)
    chat_http.setup(app)
    attachments_http.setup(app)
    customers_api.setup(app)
    events_http.setup(app)
    web_ui.setup(app)
    openapi.setup(app)
    app.cleanup_ctx.append(events_ctx)
    app.cleanup_ctx.append(_plugins_ctx)
    app.on_startup.append(_mark_ready)
    app.on_shutdown.append(_mark_draining)
    app.on_cleanup.append(_flush_traces)
    return app


def _mount_plugin_routes(app: web.Application) -> None:
    """Each plugin's routes in a sub-application of its own under ``/plugins/NAME/``; a route aiohttp refuses is
    that plugin's failure. While the plugin is disabled at run time its routes answer 503."""
    subapps: dict[str, web.Application] = {}

    def add(route: web.AbstractRouteDef, plugin: str) -> None:
        sub = subapps.get(plugin)
        if sub is None:
            sub = subapps[plugin] = web.Application(middlewares=[_while_enabled(app[PLUGINS], plugin)])
        sub.router.add_routes([route])

    app[HOOKS].collect("kefu_routes", web.AbstractRouteDef, add)
    for plugin, sub in subapps.items():
        app.add_subapp(f"/plugins/{plugin}/", sub)


def _while_enabled(registry: PluginRegistry, plugin: str) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        if not registry.enabled(plugin):
            return error_response(503, "plugin_disabled", f"plugin {plugin} is disabled (plugins.{plugin}.enabled)")
        return await handler(request)  # type: ignore[no-any-return]

    return middleware


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    async with open_store(
        database_url(config),
        migrate=config.database.migrate_on_start,
        pool_size=config.database.pool_size,
        sqlite_synchronous=config.database.sqlite_synchronous,
        sqlite_busy_timeout=config.database.sqlite_busy_timeout,
        sqlite_checkpoint_interval=config.database.sqlite_checkpoint_interval,
        max_batch=config.database.max_batch,
        chat_queue_limit=config.database.chat_queue_limit,
        events_queue_limit=config.database.events_queue_limit,
        retry_after=config.database.busy_retry_after,
    ) as store:
        app[STORE] = store
        store.writer.observe(app[METRICS], app[TRACING])
        app[LIFECYCLE].checks["store_writer"] = _writer_alive(store)
        yield


def _writer_alive(store: Store) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return store.writer.running

    return check


async def _plugins_ctx(app: web.Application) -> AsyncIterator[None]:
    await app[HOOKS].call("kefu_startup", app=app)
    yield
    # plugins disabled at run time too: they opened their resources at startup
    await app[HOOKS].call("kefu_shutdown", app=app, everyone=True)
    await app[PLUGIN_HOST].close()


def log_secrets_report(report: SecretsReport) -> None:
    """Say where secrets nobody configured come from (names only, never the values)."""
    where = str(report.path) if report.path is not None else "memory only (in-memory database)"
    if report.generated:
        log.warning("generated secrets that the configuration does not set", keys=list(report.generated),
                    kept_in=where)
    if report.loaded:
        log.info("secrets read from the secrets file", keys=list(report.loaded), file=where)


async def _mark_ready(app: web.Application) -> None:
    dev = [key for key, _, _ in development_secrets(app[CONFIG])]
    if dev:
        log.warning("development secrets in use; set them from the environment", keys=dev)
    app[LIFECYCLE].ready()
    log.info("ready", plugins=[r.name for r in app[PLUGINS].loaded()])


async def _flush_traces(app: web.Application) -> None:
    await app[TRACING].shutdown()


async def _mark_draining(app: web.Application) -> None:
    """First step of shutdown: stop looking ready, tell every WebSocket client to go elsewhere."""
    app[LIFECYCLE].drain()
    await app[SOCKETS].close_all()
