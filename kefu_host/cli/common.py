"""Options every subcommand shares, and turning them into a :class:`~kefu_host.config.Config`."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kefu_host.config import Config, ConfigError, load_config

EXIT_OK = 0
EXIT_FAILURE = 1
#: Bad configuration or usage (the one-line error names the key and the file).
EXIT_USAGE = 2
DEFAULT_CONFIG = "kefu.toml"


@dataclass(frozen=True)
class PluginRequest:
    """A ``--plugin PATH`` from the command line and the JSON settings given right after it."""

    path: str
    settings: dict[str, Any] = field(default_factory=dict)


class _PluginAction(argparse.Action):
    def __call__(self, parser: Any, namespace: argparse.Namespace, value: Any, option: str | None = None) -> None:
        requests = list(getattr(namespace, "plugins", None) or [])
        requests.append(PluginRequest(path=value))
        namespace.plugins = requests


class _ConfigAction(argparse.Action):
    """``--config FILE`` names the config file; ``--config '{json}'`` right after ``--plugin`` configures that plugin.

    The second form keeps the familiar ``--plugin ./ticket --config '{"mysql": {"dsn": "..."}}'`` working.
    """

    def __call__(self, parser: Any, namespace: argparse.Namespace, value: Any, option: str | None = None) -> None:
        if value.lstrip().startswith("{"):
            _attach_plugin_json(parser, namespace, value, option or "--config", name=None)
        else:
            namespace.config = value


class _PluginConfigAction(argparse.Action):
    """``--plugin-config NAME=JSON`` or, right after ``--plugin``, ``--plugin-config JSON``."""

    def __call__(self, parser: Any, namespace: argparse.Namespace, value: Any, option: str | None = None) -> None:
        name, sep, text = value.partition("=")
        if sep and not name.lstrip().startswith("{"):
            _attach_plugin_json(parser, namespace, text, option or "--plugin-config", name=name.strip())
        else:
            _attach_plugin_json(parser, namespace, value, option or "--plugin-config", name=None)


def _attach_plugin_json(
    parser: argparse.ArgumentParser, namespace: argparse.Namespace, text: str, option: str, name: str | None
) -> None:
    try:
        settings = json.loads(text)
    except json.JSONDecodeError as exc:
        parser.error(f"{option}: invalid JSON: {exc}")
    if not isinstance(settings, dict):
        parser.error(f"{option}: expected a JSON object")
    if name is not None:
        named = dict(getattr(namespace, "plugin_settings", None) or {})
        named[name] = {**named.get(name, {}), **settings}
        namespace.plugin_settings = named
        return
    requests = list(getattr(namespace, "plugins", None) or [])
    if not requests:
        parser.error(f"{option} with JSON must follow a --plugin PATH (or use --plugin-config NAME=JSON)")
    last = requests[-1]
    requests[-1] = PluginRequest(last.path, {**last.settings, **settings})
    namespace.plugins = requests


def common_parser() -> argparse.ArgumentParser:
    """Options accepted before or after any subcommand. Defaults are suppressed so neither place clobbers the other."""
    p = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    p.add_argument(
        "--config",
        action=_ConfigAction,
        metavar="FILE",
        help=f"config file (default: $KEFU_CONFIG or ./{DEFAULT_CONFIG} when present); "
        "JSON right after --plugin configures that plugin",
    )
    p.add_argument("--plugin", action=_PluginAction, metavar="PATH", help="load a plugin (directory or .py file); repeatable")
    p.add_argument(
        "--plugin-config",
        action=_PluginConfigAction,
        metavar="[NAME=]JSON",
        help="settings for a plugin as JSON, merged over [plugins.NAME]",
    )
    p.add_argument("--no-plugin", action="append", dest="no_plugins", metavar="NAME", help="block a plugin by name")
    p.add_argument("--db", metavar="URL", help="database URL (overrides database.url)")
    p.add_argument("--host", help="listen address (overrides server.host)")
    p.add_argument("--port", type=int, help="listen port (overrides server.port)")
    p.add_argument(
        "--insecure-dev",
        action="store_const",
        const=True,
        dest="insecure_dev",
        help="serve with the shipped development secrets (dev-...) on a non-loopback --host (auth.insecure_dev)",
    )
    return p


def config_path(args: argparse.Namespace) -> Path | None:
    explicit = getattr(args, "config", None) or os.environ.get("KEFU_CONFIG")
    if explicit:
        return Path(explicit)
    default = Path(DEFAULT_CONFIG)
    return default if default.is_file() else None


def load_config_from_args(args: argparse.Namespace) -> Config:
    overrides = {
        "database.url": getattr(args, "db", None),
        "server.host": getattr(args, "host", None),
        "server.port": getattr(args, "port", None),
        "auth.insecure_dev": getattr(args, "insecure_dev", None),
    }
    for name, settings in (getattr(args, "plugin_settings", None) or {}).items():
        for key, value in settings.items():
            overrides[f"plugins.{name}.{key}"] = value
    return load_config(config_path(args), overrides=overrides)


def plugin_requests(args: argparse.Namespace) -> list[PluginRequest]:
    return list(getattr(args, "plugins", None) or [])


def blocked_plugins(args: argparse.Namespace) -> list[str]:
    return list(getattr(args, "no_plugins", None) or [])


@contextlib.contextmanager
def fail_on_config_error() -> Iterator[None]:
    """Turn a :class:`ConfigError` anywhere below into its one line on stderr and exit code 2."""
    try:
        yield
    except ConfigError as exc:
        print(f"kefu-host: {exc}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def load_host_plugins(args: argparse.Namespace, config: Config) -> tuple[Any, Any]:
    """The plugin manager and registry the host would build from this config and these flags."""
    from kefu_host.app import BUILTIN_PLUGINS
    from kefu_host.plugins import discover, load_plugins, new_plugin_manager

    sources = discover(config, [(r.path, r.settings) for r in plugin_requests(args)], builtins=BUILTIN_PLUGINS)
    pm = new_plugin_manager()
    return pm, load_plugins(pm, config, sources, blocked_plugins(args))
