"""The ``kefu-host`` command line: serve by default, plus admin subcommands.

Each subcommand lives in its own module with ``register(subparsers, common)``; the module adds its parser
(with ``parents=[common]``) and sets ``func`` to a callable taking the parsed namespace and returning an exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from kefu_host import __version__
from kefu_host.cli import (
    agents_cmd,
    doctor_cmd,
    migrate_cmd,
    new_plugin_cmd,
    plugins_cmd,
    rules_cmd,
    serve_cmd,
    webhooks_cmd,
)
from kefu_host.cli.common import EXIT_USAGE, common_parser, fail_on_config_error

COMMANDS = (serve_cmd, plugins_cmd, new_plugin_cmd, migrate_cmd, rules_cmd, agents_cmd, webhooks_cmd, doctor_cmd)


def build_parser() -> argparse.ArgumentParser:
    common = common_parser()
    parser = argparse.ArgumentParser(
        prog="kefu-host",
        description="Self-hosted customer-service host. Without a command it serves.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"kefu-host {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub, common)
    parser.set_defaults(func=serve_cmd.run)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with fail_on_config_error():
            code = args.func(args)
    except KeyboardInterrupt:
        code = 130
    sys.exit(code if isinstance(code, int) else EXIT_USAGE)
