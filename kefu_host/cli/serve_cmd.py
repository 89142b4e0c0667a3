"""``kefu-host [serve]``: run the host until SIGTERM or SIGINT, then shut down gracefully.

Shutdown order: ``/readyz`` turns 503 at once; after ``server.drain_delay`` the listener closes, open WebSockets are
closed with 1001 (going away), in-flight requests get up to 60 % of ``server.shutdown_timeout`` to finish, then
the store drains and closes. Whatever is still running when the timeout ends is cancelled and the process exits.

A stop signal is caught from the start of :func:`run`, so there is no moment after that when it kills the process
outright. One that comes before the port opens abandons startup: what startup opened closes, the port never opens.
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
    early = EarlyStop.install()
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
    return asyncio.run(serve(app, config, early))


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


class EarlyStop:
    """Remembers a stop signal that comes before the event loop runs (loading plugins, building the app).

    Left at their defaults until then, SIGTERM would kill the process and SIGINT raise KeyboardInterrupt anywhere.
    :func:`serve` replaces these handlers with the loop's and acts on a signal remembered here.
    """

    def __init__(self) -> None:
        self.signal: int | None = None

    @classmethod
    def install(cls) -> EarlyStop:
        early = cls()
        for sig in STOP_SIGNALS:
            signal.signal(sig, early._remember)
        return early

    def _remember(self, signum: int, frame: object) -> None:
        self.signal = self.signal or signum


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def serve(app: web.Application, config: Config, early: EarlyStop | None = None) -> int:
    """Serve ``app`` until a stop signal, then shut down within ``server.shutdown_timeout``."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:  # before startup, so no signal finds the default handler once the port is open
        loop.add_signal_handler(sig, stop.set)
    if early is not None and early.signal is not None:
        stop.set()

    timeout = config.server.shutdown_timeout
    runner = web.AppRunner(
        app,
        **RUNNER_OPTIONS,
        handle_signals=False,
        # aiohttp waits this long twice for in-flight handlers: for them to finish, then again after failing
        # their body reads. In-flight requests get 60 % of the budget; the rest is for closing resources.
        shutdown_timeout=max(timeout * 0.3, 0.05),
    )
    setup = asyncio.ensure_future(runner.setup())
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait((setup, stopped), return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if not setup.done():
        return await _abandon_startup(runner, setup, timeout)
    try:
        setup.result()
    except RulesStartupError as exc:
        print(f"kefu-host: {exc}", flush=True, file=sys.stderr)
        await runner.cleanup()
        return EXIT_USAGE
    except Exception as exc:
        log.exception("startup failed")
        print(f"kefu-host: startup failed: {type(exc).__name__}: {exc}", flush=True, file=sys.stderr)
        await runner.cleanup()
        return EXIT_FAILURE
    if stop.is_set():  # came as startup finished: nobody can have been sent here yet, so no drain delay
        return await _shut_down(app, runner, config, drain_delay=0.0)

    # What startup built (modules, models, compiled rules, plugins) lives until exit. Left to the collector, every
    # full collection walks it again: 80-100 ms pauses every couple of seconds under load. Frozen, it is skipped.
    # Done before the port opens, so "listening" means the host is as it will serve.
    gc.collect()
    gc.freeze()
    # Requests in flight hold a few thousand objects at any time: at the default first threshold (700 allocations)
    # the collector scanned them over and over, 3% of the CPU under event load, to find almost nothing.
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
    site = web.TCPSite(runner, config.server.host, config.server.port, reuse_address=True)
    await site.start()
    port = runner.addresses[0][1] if runner.addresses else config.server.port
    log.info("listening", host=config.server.host, port=port, url=f"http://{config.server.host}:{port}/")
    _announce_setup(app, config, port)

    await stop.wait()
    return await _shut_down(app, runner, config, drain_delay=config.server.drain_delay)


async def _shut_down(app: web.Application, runner: web.AppRunner, config: Config, *, drain_delay: float) -> int:
    timeout = config.server.shutdown_timeout
    started = time.monotonic()
    app[LIFECYCLE].drain()
    log.info("shutting down", drain_delay_s=drain_delay, timeout_s=timeout)
    if drain_delay:
        await asyncio.sleep(min(drain_delay, timeout / 2))
    await _clean_up(runner, started, timeout)
    log.info("stopped", took_s=round(time.monotonic() - started, 3))
    return EXIT_OK


async def _abandon_startup(runner: web.AppRunner, setup: asyncio.Future[None], timeout: float) -> int:
    """A stop signal during startup: cancel it where it is, close what it opened, never open the port."""
    started = time.monotonic()
    log.info("shutting down", phase="startup", timeout_s=timeout)
    setup.cancel()
    # startup code that swallows the cancellation and finishes is closed like a started app by cleanup()
    await asyncio.wait((setup,), timeout=timeout)
    if setup.done() and not setup.cancelled() and setup.exception() is not None:
        log.warning("startup failed while stopping", error=repr(setup.exception()))
    await _clean_up(runner, started, timeout)
    log.info("stopped", phase="startup", took_s=round(time.monotonic() - started, 3))
    return EXIT_OK


async def _clean_up(runner: web.AppRunner, started: float, timeout: float) -> None:
    """``runner.cleanup()`` in what is left of ``timeout`` seconds since ``started``."""
    remaining = max(timeout - (time.monotonic() - started), 0.1)
    try:
        async with asyncio.timeout(remaining):
            await runner.cleanup()
    except TimeoutError:
        log.error("shutdown timed out; exiting with work unfinished", timeout_s=timeout)
