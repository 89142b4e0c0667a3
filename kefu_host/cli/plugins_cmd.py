"""``kefu-host plugins``: which plugins would load, from where, with which hooks, and why any would not."""

from __future__ import annotations

import argparse
import json

from kefu_host.cli.common import EXIT_FAILURE, EXIT_OK, load_config_from_args, load_host_plugins
from kefu_host.plugins import PluginLoadError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("plugins", parents=[common], help="list the plugins that would load, their hooks and status")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load_config_from_args(args)
    try:
        _, registry = load_host_plugins(args, config)
    except PluginLoadError as exc:
        print(f"kefu-host: {exc}")
        return EXIT_FAILURE
    records = registry.to_list()
    if args.json:
        print(json.dumps(records, indent=2))
        return EXIT_OK
    for r in records:
        print(f"{r['name']:<20} {r['status']:<9} {r['origin']:<13} {r['location']}")
        if r["hooks"]:
            print(f"{'':<20} hooks: {', '.join(r['hooks'])}")
        if r["reason"]:
            print(f"{'':<20} reason: {r['reason']}")
    return EXIT_FAILURE if any(r["status"] == "failed" for r in records) else EXIT_OK
