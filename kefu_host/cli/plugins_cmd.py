"""``kefu-host plugins``: which plugins would load, from where, with which hooks, and why any would not.

With ``--url`` it asks a running host instead (``GET /api/plugins``), so the calls, failures, timeouts and p50/p99
of each hook are live; ``--reload`` first makes that host apply ``[plugins.NAME] enabled`` from its kefu.toml.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from typing import Any

import aiohttp

from kefu_host.cli.common import EXIT_FAILURE, EXIT_OK, load_config_from_args, load_host_plugins
from kefu_host.plugins import PluginLoadError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("plugins", parents=[common], help="list the plugins that would load, their hooks and status")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--url", metavar="URL", help="ask the host running at URL (http://127.0.0.1:8080) for live counts")
    p.add_argument("--token", metavar="TOKEN",
                   help="admin token for --url (default: $KEFU_ADMIN_TOKEN, else secrets.admin_token)")
    p.add_argument("--reload", action="store_true",
                   help="with --url: apply [plugins.NAME] enabled from the host's kefu.toml first")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load_config_from_args(args)
    if args.url:
        token = args.token or os.environ.get("KEFU_ADMIN_TOKEN") or config.secrets.admin_token or ""
        try:
            records, report = asyncio.run(_fetch(args.url.rstrip("/"), token, args.reload))
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            print(f"kefu-host: {args.url}: {exc}")
            return EXIT_FAILURE
        if report:
            print(f"reloaded: {json.dumps(report)}")
    elif args.reload:
        print("kefu-host: --reload needs --url (the running host reloads its own kefu.toml)")
        return EXIT_FAILURE
    else:
        try:
            _, registry = load_host_plugins(args, config)
        except PluginLoadError as exc:
            print(f"kefu-host: {exc}")
            return EXIT_FAILURE
        records = registry.to_list()
    if args.json:
        print(json.dumps(records, indent=2))
    else:
        _print_table(records)
    return EXIT_FAILURE if any(r["status"] == "failed" for r in records) else EXIT_OK


async def _fetch(url: str, token: str, reload: bool) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=10)) as session:
        report = None
        if reload:
            body = await _json(await session.post(f"{url}/api/plugins/reload"))
            report = {k: body[k] for k in ("enabled", "disabled", "restart_needed")}
        body = await _json(await session.get(f"{url}/api/plugins"))
        return body["plugins"], report


async def _json(response: aiohttp.ClientResponse) -> dict[str, Any]:
    async with response:
        body = await response.json(content_type=None)
        if response.status != 200:
            error = body.get("error", {}) if isinstance(body, dict) else {}
            raise ValueError(f"HTTP {response.status}: {error.get('message', body)}")
        return body  # type: ignore[no-any-return]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}ms"


def _print_table(records: list[dict[str, Any]]) -> None:
    for r in records:
        print(f"{r['name']:<20} {r['status']:<9} {r['origin']:<13} {r['location']}")
        if r["hooks"]:
            print(f"{'':<20} hooks: {', '.join(r['hooks'])}")
        if r["reason"]:
            print(f"{'':<20} reason: {r['reason']}")
        stats = r.get("hook_stats") or {}
        if stats:
            print(f"{'':<20} {'hook':<32} {'calls':>7} {'failed':>7} {'timeout':>7} {'p50':>9} {'p99':>9}")
        for hook, s in stats.items():
            print(f"{'':<20} {hook:<32} {s['calls']:>7} {s['failures']:>7} {s['timeouts']:>7} "
                  f"{_ms(s['p50_ms']):>9} {_ms(s['p99_ms']):>9}")
