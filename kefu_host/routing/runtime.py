"""The rules feature while the app runs: the holder, the reloader and its watcher, SIGHUP (through
:mod:`kefu_host.sighup`), startup load, and the warning about teams the rules send chats to that have no agent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import structlog
from aiohttp import web

from kefu_host.config import database_url, resolve_path
from kefu_host.keys import CONFIG, HOOKS, RULES, SIGHUP, STORE
from kefu_host.routing.catalogue import HostCatalogue, build_catalogue
from kefu_host.routing.cluster import ClusterReloader, default_node_id
from kefu_host.routing.notify import asyncpg_dsn
from kefu_host.routing.staffing import report_unstaffed
from kefu_host.rules import RuleError, RuleSet, RuleSetHolder, RulesReloader
from kefu_host.tasks import stop_tasks

log = structlog.get_logger("kefu_host.rules")


class RulesStartupError(Exception):
    """The rule set is invalid at startup, when there is no last good set to keep."""


@dataclass
class RulesRuntime:
    holder: RuleSetHolder
    reloader: ClusterReloader
    catalogue: HostCatalogue


async def rules_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    catalogue = build_catalogue(app[HOOKS])
    holder = RuleSetHolder()
    store = app[STORE]
    reloader = ClusterReloader(
        holder,
        resolve_path(config, config.rules.directory),
        catalogue.catalogue,
        teams=config.chat.teams,
        store=store,
        node_id=config.cluster.node_id or default_node_id(),
        check_interval=config.rules.check_interval,
        publish_files=config.rules.publish_files,
        keep_revisions=config.rules.keep_revisions,
        listen_dsn=asyncpg_dsn(database_url(config)) if store.dialect == "postgresql" else None,
        debounce=config.rules.debounce,
        rescan_interval=config.rules.rescan_interval,
        watch=config.rules.watch,
        allow_empty=config.rules.allow_empty,
    )
    outcome = await reloader.start()
    if holder.current is None:
        raise RulesStartupError(_startup_message(config.rules.directory, outcome.errors, outcome.message))
    app[RULES] = RulesRuntime(holder, reloader, catalogue)
    default_team = config.chat.default_team
    await report_unstaffed(store, holder.current, default_team)
    reports: set[asyncio.Task[None]] = set()

    def on_swap(ruleset: RuleSet) -> None:
        task = asyncio.create_task(report_unstaffed(store, ruleset, default_team), name="kefu-rules-staffing")
        reports.add(task)
        task.add_done_callback(reports.discard)

    reloader.on_swap = on_swap
    watcher = asyncio.create_task(reloader.run(), name="kefu-rules-watcher")

    async def on_sighup() -> None:
        await reloader.reload(trigger="sighup")

    app[SIGHUP].add(on_sighup)
    yield
    app[SIGHUP].discard(on_sighup)
    reloader.on_swap = None
    await stop_tasks(watcher, *reports)
    await reloader.leave()


def _startup_message(directory: object, errors: tuple[RuleError, ...], message: str) -> str:
    """One line for a problem of the whole directory (missing, empty, unreadable); else each located error."""
    if len(errors) == 1 and errors[0].line is None:
        return f"rules.directory {directory}: {errors[0].message}"
    details = "\n".join(str(e) for e in errors) or message
    return f"the rules in {directory} do not load:\n{details}"
