"""``kefu-host agents``: create agents (printing their token once), list them, rotate tokens, set passwords,
change them.

A password is never an argument (it would sit in the shell's history and in ``ps``): ``--password`` asks for it
twice on the terminal, ``--password-stdin`` reads one line from standard input, for scripts.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
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
from kefu_host.chat.passwords import hash_password, password_problem
from kefu_host.cli.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, load_config_from_args
from kefu_host.config import Config, database_url
from kefu_host.store import Store, open_store


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("agents", parents=[common], help="manage agent accounts")
    agents = p.add_subparsers(dest="agents_command", metavar="ACTION", required=True)

    add = agents.add_parser("add", parents=[common], help="create an agent and print its token (shown once)")
    add.add_argument("name")
    add.add_argument("--team", action="append", required=True, dest="teams", help="team (repeatable)")
    add.add_argument("--capacity", type=int, default=3, help="most conversations at once (default 3)")
    _password_options(add)
    add.add_argument("--admin", action="store_true", help="may use the admin API with its console session")
    add.set_defaults(func=lambda a: _with_password(a, lambda: _run(a, lambda s, c: _add(s, a))))

    ls = agents.add_parser("list", parents=[common], help="list agents")
    ls.set_defaults(func=lambda a: _run(a, lambda s, c: _list(s)))

    rotate = agents.add_parser("rotate-token", parents=[common], help="replace an agent's token (prints the new one)")
    rotate.add_argument("name")
    rotate.set_defaults(func=lambda a: _run(a, lambda s, c: _rotate(s, c, a.name)))

    change = agents.add_parser("set", parents=[common],
                               help="change capacity, teams, password, admin, or disable/enable an agent")
    change.add_argument("name")
    change.add_argument("--capacity", type=int)
    change.add_argument("--team", action="append", dest="teams")
    state = change.add_mutually_exclusive_group()
    state.add_argument("--disable", action="store_const", const=True, dest="disabled")
    state.add_argument("--enable", action="store_const", const=False, dest="disabled")
    _password_options(change)
    admin = change.add_mutually_exclusive_group()
    admin.add_argument("--admin", action="store_const", const=True, dest="is_admin", help="make it an admin")
    admin.add_argument("--no-admin", action="store_const", const=False, dest="is_admin", help="no longer an admin")
    change.set_defaults(func=lambda a: _with_password(a, lambda: _run(a, lambda s, c: _set(s, c, a))))


def _password_options(parser: argparse.ArgumentParser) -> None:
    way = parser.add_mutually_exclusive_group()
    way.add_argument("--password", action="store_true", dest="ask_password",
                     help="set the console password: asked twice on the terminal")
    way.add_argument("--password-stdin", action="store_true", dest="password_stdin",
                     help="set the console password: read one line from standard input (for scripts)")


class PasswordInputError(Exception):
    """No usable password was given; the message says why."""


def read_password(args: Any) -> str | None:
    """The password the flags ask for (None when they ask for none), checked against the policy."""
    if getattr(args, "password_stdin", False):
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    elif getattr(args, "ask_password", False):
        if not sys.stdin.isatty():
            raise PasswordInputError("--password asks on a terminal; in a script use --password-stdin")
        password = getpass.getpass("password: ")
        if getpass.getpass("password again: ") != password:
            raise PasswordInputError("the two passwords are not the same; nothing changed")
    else:
        return None
    problem = password_problem(password)
    if problem is not None:
        raise PasswordInputError(f"{problem}; nothing changed")
    return password


def _with_password(args: argparse.Namespace, then: Callable[[], int]) -> int:
    """Read and hash the password (before touching the database: a typo changes nothing), then run the command."""
    try:
        password = read_password(args)
    except PasswordInputError as exc:
        print(f"kefu-host: {exc}", file=sys.stderr)
        return EXIT_USAGE
    args.password_hash = hash_password(password) if password is not None else None
    return then()


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
    token = await add_agent(store, args.name, args.teams, args.capacity, password_hash=args.password_hash,
                            is_admin=args.admin)
    role = "admin agent" if args.admin else "agent"
    print(f"{role} {args.name} created in {', '.join(args.teams)} with capacity {args.capacity}")
    if args.password_hash:
        print(f"console password set: {args.name} signs in at / with it")
    print(f"token (shown once, store it now): {token}")
    return EXIT_OK


async def _list(store: Store) -> int:
    agents = await list_agents(store)
    if not agents:
        print("no agents; create one with: kefu-host agents add NAME --team TEAM")
        return EXIT_OK
    print(f"{'name':<20} {'teams':<30} {'capacity':>8}  {'state':<8} {'admin':<5} {'password':<8} last seen")
    for a in agents:
        seen = a.last_seen_at.strftime("%Y-%m-%d %H:%M") if a.last_seen_at else "never"
        state = "disabled" if a.disabled else "active"
        admin, password = "yes" if a.is_admin else "no", "set" if a.password_hash else "none"
        print(f"{a.name:<20} {','.join(a.teams):<30} {a.capacity:>8}  {state:<8} {admin:<5} {password:<8} {seen}")
    return EXIT_OK


def _sockets_close_note(config: Config) -> str:
    return (f"its open sockets on running hosts close (4001) within auth.agent_check_interval "
            f"({config.auth.agent_check_interval:g} s)")


async def _rotate(store: Store, config: Config, name: str) -> int:
    print(f"new token for {name} (shown once): {await rotate_token(store, name)}")
    print(f"the old token no longer works; {_sockets_close_note(config)}")
    return EXIT_OK


async def _set(store: Store, config: Config, args: Any) -> int:
    await set_agent(store, args.name, disabled=args.disabled, capacity=args.capacity, teams=args.teams,
                    password_hash=args.password_hash, is_admin=args.is_admin)
    print(f"agent {args.name} updated")
    if args.is_admin is not None:
        print(f"agent {args.name} is {'now' if args.is_admin else 'no longer'} an admin")
    if args.disabled:
        print(f"agent {args.name} is disabled; {_sockets_close_note(config)}")
    elif args.password_hash:
        print(f"new console password; its console sessions are signed out and {_sockets_close_note(config)}")
    return EXIT_OK
