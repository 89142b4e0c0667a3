"""``kefu-host migrate``: bring the database schema to the latest revision."""

from __future__ import annotations

import argparse
import asyncio

from kefu_host.cli.common import EXIT_OK, load_config_from_args
from kefu_host.config import database_url
from kefu_host.store.engine import create_engines, ensure_sqlite_dir
from kefu_host.store.migrate import current_revision, head_revision, upgrade


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("migrate", parents=[common], help="apply database migrations")
    p.add_argument("--check", action="store_true", help="only report; exit 1 when migrations are pending")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load_config_from_args(args)
    return asyncio.run(_migrate(database_url(config), check=args.check))


async def _migrate(url: str, *, check: bool) -> int:
    ensure_sqlite_dir(url)
    engines = create_engines(url)
    try:
        before = await current_revision(engines.write)
        head = head_revision()
        if check:
            print(f"database at {before or 'empty'}, latest {head}")
            return EXIT_OK if before == head else 1
        await upgrade(engines.write)
        print(f"database migrated: {before or 'empty'} -> {head}")
        return EXIT_OK
    finally:
        await engines.dispose()
