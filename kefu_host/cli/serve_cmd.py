"""``kefu-host [serve]``: run the host until SIGTERM or SIGINT, then shut down gracefully.

Shutdown order: ``/readyz`` turns 503 at once; after ``server.drain_delay`` the listener closes, open WebSockets are
closed with 1001 (going away), in-flight requests get the rest of ``server.shutdown_timeout`` to finish, then the
store drains and closes. Whatever is still running when the timeout ends is cancelled and the process exits.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import signal
import sys
import time

import structlog
from aiohttp import web

from kefu_host.app import RUNNER_OPTIONS, create_app, log_secrets_report
from kefu_host.chat.setup import setup_link
from kefu_host.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    blocked_plugins,
    load_config_from_args,
    plugin_requests,
)
from kefu_host.config import Config, secure_config
from kefu_host.keys import CHAT, LIFECYCLE
from kefu_host.logs import configure_logging
from kefu_host.plugins import PluginLoadError
from kefu_host.routing.runtime import RulesStartupError

#: Allocations (net of frees) between young-generation collections once the host listens.
GC_THRESHOLD = 20_000

log = structlog.get_logger("kefu_host.serve")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("serve", parents=[common], help="run the host (the default command)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # secrets first (generated ones too), so that the log pipeline knows every value it must never print
    config, secrets_report = secure_config(load_config_from_args(args))
    configure_logging(fmt=config.server.log_format, level=config.server.log_level, secrets=config.secret_values())
    if secrets_report is not None:
        log_secrets_report(secrets_report)
    _install_uvloop()
    try:
        app = create_app(
            config,
            plugins=[(r.path, r.settings) for r in plugin_requests(args)],
            blocked=blocked_plugins(args),
        )
    except PluginLoadError as exc:
        log.error("startup failed", error=str(exc))
        print(f"kefu-host: {exc}", flush=True, file=sys.stderr)
        return EXIT_FAILURE
    return asyncio.run(serve(app, config))


def _announce_setup(app: web.Application, config: Config, port: int) -> None:
    """On a database with no agent: the one line that says how to create the first one (as Jupyter prints its
    token). The token is this process's; every process of the database accepts it (kefu_host.chat.setup)."""
    token = app[CHAT].auth.setup.token
    if token is None:
        return
    if config.web.enabled:
        log.warning("no agents yet: open this URL to create the first admin agent",
                    url=setup_link(config.server.host, port, token, config.web.public_origin))
    else:
        log.warning("no agents yet (and web.enabled = false): create one with "
                    "kefu-host agents add NAME --team TEAM --password --admin")


def _install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:  # not on this platform; asyncio's loop works too
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def serve(app: web.Application, config: Config) -> int:
    """Serve ``app`` until a stop signal, then shut down within ``server.shutdown_timeout``."""
    timeout = config.server.shutdown_timeout
    runner = web.AppRunner(
        app,
        **RUNNER_OPTIONS,
        handle_signals=False,
        shutdown_timeout=max(timeout * 0.6, 0.1),  # leaves the rest of the budget for closing resources
    )
    try:
        await runner.setup()
    except RulesStartupError as exc:
        print(f"kefu-host: {exc}", flush=True, file=sys.stderr)
        await runner.cleanup()
        return EXIT_USAGE
    except Exception as exc:
        log.exception("startup failed")
        print(f"kefu-host: startup failed: {type(exc).__name__}: {exc}", flush=True, file=sys.stderr)
        await runner.cleanup()
        return EXIT_FAILURE
    site = web.TCPSite(runner, config.server.host, config.server.port, reuse_address=True)
    await site.start()
    port = runner.addresses[0][1] if runner.addresses else config.server.port
    log.info("listening", host=config.server.host, port=port, url=f"http://{config.server.host}:{port}/")
    _announce_setup(app, config, port)
    # What startup built (modules, models, compiled rules, plugins) lives until exit. Left to the collector, every
    # full collection walks it again: 80-100 ms pauses every couple of seconds under load. Frozen, it is skipped.
    gc.collect()
    gc.freeze()
    # Requests in flight hold a few thousand objects at any time: at the default first threshold (700 allocations)
    # the collector scanned them over and over, 3% of the CPU under event load, to find almost nothing.
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()

    started = time.monotonic()
    app[LIFECYCLE].drain()
    log.info("shutting down", drain_delay_s=config.server.drain_delay, timeout_s=timeout)
    if config.server.drain_delay:
        await asyncio.sleep(min(config.server.drain_delay, timeout / 2))
    remaining = max(timeout - (time.monotonic() - started), 0.1)
    try:
        await asyncio.wait_for(runner.cleanup(), remaining)
    except TimeoutError:
        log.error("shutdown timed out; exiting with work unfinished", timeout_s=timeout)
    log.info("stopped", took_s=round(time.monotonic() - started, 3))
    return EXIT_OK
