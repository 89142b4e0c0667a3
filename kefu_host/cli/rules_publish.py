"""``kefu-host rules publish [DIR]``: validate a rules directory once and make it the cluster's active revision.

The directory is built with the catalogue of the plugins the configuration loads (as a host would), checked by
the guard against the active revision, and recorded in the configured database as accepted (and active, by
compare-and-set on ``--parent``, default the revision active when the command starts) or refused. Every host on
that database runs it within ``rules.check_interval`` (at once on PostgreSQL, by NOTIFY).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import socket
import sys
import time
from pathlib import Path

from kefu_host.cli.common import EXIT_FAILURE, EXIT_OK, load_config_from_args
from kefu_host.config import Config, database_url, resolve_path
from kefu_host.logs import configure_logging
from kefu_host.routing import revisions
from kefu_host.routing.publisher import ACTIVE, Publisher, _Unset
from kefu_host.rules import RuleSetError
from kefu_host.rules.loader import read_snapshot
from kefu_host.rules.offload import RuleBuilder
from kefu_host.rules.reloader import ReloadOutcome
from kefu_host.store import Store, StoreUnavailable, open_store

_POLL = 0.2


def add_parser(actions: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    text = "validate the rules and make them the active revision of every host on the database"
    q = actions.add_parser("publish", parents=[common], help=text, description=text)
    q.add_argument("directory", nargs="?", metavar="DIR", help="rules directory (default: rules.directory)")
    q.add_argument("--teams", metavar="A,B", help="team names to accept (default: chat.teams of the config)")
    q.add_argument("--parent", metavar="REV",
                   help="publish only if REV (a revision, or its first 12+ characters) is still the active one")
    q.add_argument("--force", action="store_true", help="skip the guard against a truncated set")
    q.add_argument("--author", help="who publishes, for the record (default: the user name)")
    q.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="then wait until every live host runs it (exit 1 if one does not in time)")
    q.set_defaults(func=run_publish)


def run_publish(args: argparse.Namespace) -> int:
    # imported here: building the catalogue loads the plugins, which the other rules commands may not need
    from kefu_host.cli.rules_cmd import _catalogue, _print_errors, _shorter

    config = load_config_from_args(args)
    # the command reports what happened itself; the publisher's log lines would only say it twice
    configure_logging(fmt="console", level="critical", secrets=config.secret_values())
    directory = _shorter(Path(args.directory) if args.directory else resolve_path(config, config.rules.directory))
    teams = tuple(t.strip() for t in args.teams.split(",") if t.strip()) if args.teams else config.chat.teams
    try:
        snapshot = read_snapshot(directory)
    except RuleSetError as exc:
        _print_errors(exc, sys.stderr)
        return EXIT_FAILURE
    builder = RuleBuilder(_catalogue(args), teams, allow_empty=config.rules.allow_empty)

    async def go() -> int:
        async with open_store(database_url(config), migrate=config.database.migrate_on_start) as store:
            publisher = Publisher(store, builder, origin=f"cli@{socket.gethostname()}",
                                  keep=config.rules.keep_revisions)
            try:
                parent = await _parent(store, args.parent)
                published = await publisher.publish(
                    snapshot, display_root=str(directory), trigger="cli", author=args.author or _user(),
                    parent=parent, force=args.force,
                )
            except StoreUnavailable as exc:
                print(f"kefu-host: store unavailable: {exc}", file=sys.stderr)
                return EXIT_FAILURE
            code = _report(published.outcome)
            if code == EXIT_OK and args.wait > 0 and published.outcome.active is not None:
                return await _wait(store, config, published.outcome.active, args.wait)
            return code

    return asyncio.run(go())


async def _parent(store: Store, given: str | None) -> str | None | _Unset:
    """``--parent``: the active revision when it starts with ``given`` (so a 12-character prefix works), else
    ``given`` as it is (which then conflicts); ``none`` expects no active revision yet."""
    if given is None:
        return ACTIVE
    if given.lower() == "none":
        return None
    active = await revisions.active_hash(store)
    return active if active is not None and len(given) >= 12 and active.startswith(given.lower()) else given


def _report(outcome: ReloadOutcome) -> int:
    short = (outcome.revision or "")[:12]
    if outcome.status == "loaded":
        print(f"published revision {short} (#{outcome.revision_id}): {outcome.message}; it is now active")
        return EXIT_OK
    if outcome.status == "unchanged":
        print(f"revision {short} is already active; nothing published")
        return EXIT_OK
    if outcome.errors:
        _print(outcome)
    active = (outcome.active or "none")[:12]
    if outcome.status == "conflict":
        print(f"kefu-host: {outcome.message}", file=sys.stderr)
    elif outcome.revision_id is not None:
        print(f"kefu-host: revision {short} (#{outcome.revision_id}) refused: {outcome.message}; the active "
              f"revision stays {active}", file=sys.stderr)
    else:
        print(f"kefu-host: {outcome.message}", file=sys.stderr)
    return EXIT_FAILURE


def _print(outcome: ReloadOutcome) -> None:
    for error in outcome.errors:
        print(error.render(), file=sys.stderr)


async def _wait(store: Store, config: Config, revision: str, seconds: float) -> int:
    """Wait until every node with a fresh heartbeat runs ``revision``; list them."""
    stale_after = 3 * config.rules.check_interval
    deadline = time.monotonic() + seconds
    while True:
        live = [n for n in await revisions.nodes(store) if not n.to_dict(stale_after)["stale"]]
        behind = [n for n in live if n.revision != revision]
        if not behind or time.monotonic() >= deadline:
            break
        await asyncio.sleep(_POLL)
    for node in live:
        state = "runs it" if node.revision == revision else f"runs {(node.revision or 'nothing')[:12]}"
        error = f" ({node.last_error})" if node.last_error and node.revision != revision else ""
        print(f"  {node.node_id}: {state}{error}")
    if behind:
        print(f"kefu-host: {len(behind)} of {len(live)} hosts do not run {revision[:12]} after {seconds:g} s",
              file=sys.stderr)
        return EXIT_FAILURE
    print(f"all {len(live)} live hosts run {revision[:12]}")
    return EXIT_OK


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        return "unknown"
