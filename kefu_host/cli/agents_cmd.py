"""``kefu-host agents``: create agents (printing their token once), list them, rotate tokens, change them."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from kefu_host.chat.accounts import (
    AccountError,
    add_agent,
    ensure_teams,
    list_agents,
    rotate_token,
    set_agent,
)
from kefu_host.cli.common import EXIT_FAILURE, EXIT_OK, load_config_from_args
from kefu_host.config import Config, database_url
from kefu_host.store import Store, open_store


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("agents", parents=[common], help="manage agent accounts")
    agents = p.add_subparsers(dest="agents_command", metavar="ACTION", required=True)

    add = agents.add_parser("add", parents=[common], help="create an agent and print its token (shown once)")
    add.add_argument("name")
    add.add_argument("--team", action="append", required=True, dest="teams", help="team (repeatable)")
    add.add_argument("--capacity", type=int, default=3, help="most conversations at once (default 3)")
    add.set_defaults(func=lambda a: _run(a, lambda s, c: _add(s, a)))

    ls = agents.add_parser("list", parents=[common], help="list agents")
    ls.set_defaults(func=lambda a: _run(a, lambda s, c: _list(s)))

    rotate = agents.add_parser("rotate-token", parents=[common], help="replace an agent's token (prints the new one)")
    rotate.add_argument("name")
    rotate.set_defaults(func=lambda a: _run(a, lambda s, c: _rotate(s, c, a.name)))

    change = agents.add_parser("set", parents=[common], help="change capacity, teams, or disable/enable an agent")
    change.add_argument("name")
    change.add_argument("--capacity", type=int)
    change.add_argument("--team", action="append", dest="teams")
    state = change.add_mutually_exclusive_group()
    state.add_argument("--disable", action="store_const", const=True, dest="disabled")
    state.add_argument("--enable", action="store_const", const=False, dest="disabled")
    change.set_defaults(func=lambda a: _run(a, lambda s, c: _set(s, c, a)))


def _run(args: argparse.Namespace, action: Callable[[Store, Config], Awaitable[int]]) -> int:
    config = load_config_from_args(args)

    async def go() -> int:
        async with open_store(database_url(config)) as store:
            await ensure_teams(store, config.chat.teams)
            try:
                return await action(store, config)
            except AccountError as exc:
                print(f"kefu-host: {exc}")
                return EXIT_FAILURE

    return asyncio.run(go())


async def _add(store: Store, args: Any) -> int:
    token = await add_agent(store, args.name, args.teams, args.capacity)
    print(f"agent {args.name} created in {', '.join(args.teams)} with capacity {args.capacity}")
    print(f"token (shown once, store it now): {token}")
    return EXIT_OK


async def _list(store: Store) -> int:
    agents = await list_agents(store)
    if not agents:
        print("no agents; create one with: kefu-host agents add NAME --team TEAM")
        return EXIT_OK
    print(f"{'name':<20} {'teams':<30} {'capacity':>8}  {'state':<8} last seen")
    for a in agents:
        seen = a.last_seen_at.strftime("%Y-%m-%d %H:%M") if a.last_seen_at else "never"
        state = "disabled" if a.disabled else "active"
        print(f"{a.name:<20} {','.join(a.teams):<30} {a.capacity:>8}  {state:<8} {seen}")
    return EXIT_OK


def _sockets_close_note(config: Config) -> str:
    return (f"its open sockets on running hosts close (4001) within auth.agent_check_interval "
            f"({config.auth.agent_check_interval:g} s)")


async def _rotate(store: Store, config: Config, name: str) -> int:
    print(f"new token for {name} (shown once): {await rotate_token(store, name)}")
    print(f"the old token no longer works; {_sockets_close_note(config)}")
    return EXIT_OK


async def _set(store: Store, config: Config, args: Any) -> int:
    await set_agent(store, args.name, disabled=args.disabled, capacity=args.capacity, teams=args.teams)
    print(f"agent {args.name} updated")
    if args.disabled:
        print(f"agent {args.name} is disabled; {_sockets_close_note(config)}")
    return EXIT_OK
