"""``kefu-host doctor``: check a deployment's configuration, secrets, database and migrations, Redis, plugins and
rules, and say in plain words what is wrong. Exit 1 on any problem, 0 when the host would start and serve."""

from __future__ import annotations

import argparse
import asyncio

from kefu_host.cli.common import EXIT_FAILURE, EXIT_OK, config_path, load_config_from_args, load_host_plugins
from kefu_host.config import Config, ConfigError
from kefu_host.doctor import (
    Finding,
    check_database,
    check_plugins,
    check_redis,
    check_rules,
    check_secrets,
    known_revision,
    render,
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("doctor", parents=[common], help="check config, database, migrations, Redis, plugins, rules")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    findings = diagnose(args)
    print(render(findings))
    return EXIT_FAILURE if any(f.level == "fail" for f in findings) else EXIT_OK


def diagnose(args: argparse.Namespace) -> list[Finding]:
    source = config_path(args)
    try:
        config = load_config_from_args(args)
    except ConfigError as exc:
        return [Finding("fail", "config", str(exc)), Finding("skip", "the rest", "they need a valid configuration")]
    findings = [Finding("ok", "config", str(source) if source is not None else "defaults (no kefu.toml)")]
    findings += check_secrets(config)
    findings += asyncio.run(_services(config))
    findings += _plugins_and_rules(args, config)
    return findings


async def _services(config: Config) -> list[Finding]:
    from kefu_host.store.migrate import head_revision

    return [*await check_database(config, head_revision(), known_revision), *await check_redis(config)]


def _plugins_and_rules(args: argparse.Namespace, config: Config) -> list[Finding]:
    from kefu_host.hookcall import Hooks
    from kefu_host.plugins import PluginLoadError
    from kefu_host.routing.catalogue import build_catalogue
    from kefu_host.rules import Catalogue

    try:
        pm, registry = load_host_plugins(args, config)
    except PluginLoadError as exc:
        found = [Finding("fail", "plugins", str(exc))]
        catalogue = Catalogue.core()  # the rules are still worth checking, without the plugins' fields
    else:
        found = check_plugins(registry.to_list())
        catalogue = build_catalogue(Hooks(pm, registry)).catalogue
    return found + check_rules(config, catalogue)
