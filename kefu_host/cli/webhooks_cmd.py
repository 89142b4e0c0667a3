"""``kefu-host webhooks``: list outbound deliveries and replay dead (or delivered) ones.

Replaying only changes rows: the delivery goes back to pending, due now, with its attempts reset. A running host
notices within its poll interval and sends it again under the same delivery id, so this works against the database
of a live host, from another process.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime

from kefu_host.cli.common import EXIT_FAILURE, EXIT_OK, load_config_from_args
from kefu_host.config import database_url
from kefu_host.store import Store, open_store
from kefu_host.store.models import utcnow
from kefu_host.webhooks import repo


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser("webhooks", parents=[common], help="list and replay outbound webhook deliveries")
    hooks = p.add_subparsers(dest="webhooks_command", metavar="ACTION", required=True)

    ls = hooks.add_parser("list", parents=[common], help="list deliveries, newest first")
    ls.add_argument("--status", choices=repo.STATUSES, help="only deliveries in this state")
    ls.add_argument("--limit", type=_positive, default=50, help="most rows to show (default 50)")
    ls.set_defaults(func=lambda a: _run(a, lambda s: _list(s, a.status, a.limit)))

    replay = hooks.add_parser(
        "replay", parents=[common], help="send dead or delivered deliveries again (same delivery id)"
    )
    replay.add_argument("ids", nargs="*", metavar="ID", help="delivery ids (dlv_...)")
    replay.add_argument("--all-dead", action="store_true", help="replay every dead delivery")
    replay.set_defaults(func=lambda a: _replay_command(replay, a))


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _replay_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if bool(args.ids) == bool(args.all_dead):
        parser.error("give delivery ids or --all-dead (not both)")
    if args.all_dead:
        return _run(args, _replay_all_dead)
    return _run(args, lambda s: _replay(s, args.ids))


def _run(args: argparse.Namespace, action: Callable[[Store], Awaitable[int]]) -> int:
    config = load_config_from_args(args)

    async def go() -> int:
        async with open_store(database_url(config), migrate=config.database.migrate_on_start) as store:
            return await action(store)

    return asyncio.run(go())


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


async def _list(store: Store, status: repo.Status | None, limit: int) -> int:
    rows = await repo.list_deliveries(store, status, limit)
    if not rows:
        print("no webhook deliveries" + (f" with status {status}" if status else ""))
        return EXIT_OK
    print(
        f"{'id':<36} {'endpoint':<16} {'event':<24} {'status':<9} {'tries':>5}  {'created':<19}  "
        f"{'next / delivered':<19}  last error"
    )
    for d in rows:
        when = d.delivered_at if d.status == "delivered" else d.next_attempt_at
        error = (d.last_error or "").replace("\n", " ")
        if len(error) > 60:
            error = error[:57] + "..."
        print(
            f"{d.id:<36} {d.endpoint:<16} {d.event_type:<24} {d.status:<9} {d.attempts:>5}  "
            f"{_when(d.created_at):<19}  {_when(when):<19}  {error}"
        )
    return EXIT_OK


async def _replay(store: Store, ids: list[str]) -> int:
    result = await repo.replay(store, ids, utcnow())
    for delivery_id in result.replayed:
        print(f"{delivery_id}: queued for delivery")
    for delivery_id in result.already_pending:
        print(f"{delivery_id}: already pending, left as it is")
    for delivery_id in result.unknown:
        print(f"kefu-host: no webhook delivery with id {delivery_id!r}", file=sys.stderr)
    return EXIT_FAILURE if result.unknown else EXIT_OK


async def _replay_all_dead(store: Store) -> int:
    ids = await repo.replay_all_dead(store, utcnow())
    print(f"{len(ids)} dead deliver{'y' if len(ids) == 1 else 'ies'} queued for delivery")
    for delivery_id in ids:
        print(f"  {delivery_id}")
    return EXIT_OK
