"""Reading kefu.toml, ``KEFU_SECTION__KEY`` environment overrides and command-line overrides into a checked
:class:`~kefu_host.config.schema.Config`.

A bad value raises :class:`ConfigError`, whose one-line message names the file (or environment variable) and the
dotted key, e.g. ``kefu.toml: server.port: expected an integer, got "80a"``. The CLI prints it and exits with 2.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import difflib
import ipaddress
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kefu_host.attachments.sniff import SNIFFED_TYPES
from kefu_host.chat.protocol import SEND_FRAME_BYTES
from kefu_host.config.schema import (
    ENV_PREFIX,
    HOST_PLUGIN_KEYS,
    RESERVED_PLUGIN_NAMES,
    Config,
    ConfigError,
    PluginOptions,
    PluginsConfig,
    looks_like_path,
    resolve_path,
)

_SECTIONS: dict[str, type] = {
    name: hint for name, hint in typing.get_type_hints(Config).items() if name not in ("source", "plugins")
}


def load_config(
    path: Path | str | None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Read ``path`` (or defaults when None), apply environment then ``overrides`` (dotted keys), validate."""
    environ = os.environ if environ is None else environ
    source = Path(path).resolve() if path is not None else None
    origin = str(path) if path is not None else "defaults"
    raw: dict[str, Any] = {}
    if source is not None:
        try:
            raw = tomllib.loads(source.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(origin, "", "file not found") from None
        except IsADirectoryError:
            raise ConfigError(origin, "", "is a directory, expected a TOML file") from None
        except UnicodeDecodeError as exc:  # TOML is UTF-8: a file saved in GBK, say, is the operator's to fix
            raise ConfigError(origin, "", f"not UTF-8 text (byte {exc.start}); TOML files are UTF-8") from None
        except OSError as exc:  # unreadable (permissions): named, not a traceback, at startup or on a reload
            raise ConfigError(origin, "", f"cannot be read: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(origin, "", f"invalid TOML: {exc}") from None
    origins: dict[str, str] = {}
    for name, value in environ.items():
        if name.startswith(ENV_PREFIX) and "__" in name:
            key = ".".join(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
            _set_dotted(raw, key, _parse_env_value(value))
            origins[key] = f"environment variable {name}"
    for key, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(raw, key, value)
            origins[key] = "command line"
    config = dataclasses.replace(_build_config(raw, origin, origins, source), key_sources={**origins, "": origin})
    _check_semantics(config, origin, origins)
    return config


class _EnvStr(str):
    """A raw environment value; it is read as the type of the key it sets (see :func:`_coerce`)."""


def _parse_env_value(value: str) -> Any:
    return _EnvStr(value)


def _parse_toml_value(value: str) -> Any:
    """``9000``, ``true``, ``["a"]`` as TOML values; anything that is not one stays a string."""
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return str(value)


def _plain(value: Any) -> Any:
    """Untyped settings (a plugin's own) with environment strings read as TOML values."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return _parse_toml_value(value) if isinstance(value, _EnvStr) else value


def _set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    *parents, last = key.split(".")
    node = raw
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[last] = value


def _source_of(key: str, origin: str, origins: Mapping[str, str]) -> str:
    """The environment variable or flag that set ``key`` (or one of its parents), else the file."""
    parts = key.split(".")
    for n in range(len(parts), 0, -1):
        found = origins.get(".".join(parts[:n]))
        if found:
            return found
    return origin


def _build_config(raw: dict[str, Any], origin: str, origins: Mapping[str, str], source: Path | None) -> Config:
    def fail(key: str, problem: str) -> typing.NoReturn:
        raise ConfigError(_source_of(key, origin, origins), key, problem)

    sections: dict[str, Any] = {}
    for name, value in raw.items():
        if name == "plugins":
            continue
        if name not in _SECTIONS:
            fail(name, f"unknown section{_did_you_mean(name, [*_SECTIONS, 'plugins'])}")
        if not isinstance(value, dict):
            fail(name, f"expected a table, got {_describe(value)}")
        sections[name] = _build_dataclass(_SECTIONS[name], value, name, fail)
    plugins_raw = raw.get("plugins", {})
    if not isinstance(plugins_raw, dict):
        fail("plugins", f"expected a table, got {_describe(plugins_raw)}")
    sections["plugins"] = _build_plugins(plugins_raw, fail)
    return Config(**sections, source=source)


def _build_plugins(raw: dict[str, Any], fail: typing.Callable[[str, str], typing.NoReturn]) -> PluginsConfig:
    top = {k: v for k, v in raw.items() if k in RESERVED_PLUGIN_NAMES}
    base = _build_dataclass(PluginsConfig, top, "plugins", fail)
    options: dict[str, PluginOptions] = {}
    for name, table in raw.items():
        if name in RESERVED_PLUGIN_NAMES:
            continue
        key = f"plugins.{name}"
        if not isinstance(table, dict):
            fail(key, f"expected a table of plugin settings, got {_describe(table)}")
        host_keys = {k: v for k, v in table.items() if k in HOST_PLUGIN_KEYS}
        built = _build_dataclass(PluginOptions, host_keys, key, fail)
        settings = {k: _plain(v) for k, v in table.items() if k not in HOST_PLUGIN_KEYS}
        options[name] = dataclasses.replace(built, settings=settings)
    return dataclasses.replace(base, options=options)


def _build_dataclass(cls: type, raw: dict[str, Any], prefix: str, fail: typing.Callable[..., typing.NoReturn]) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls) if f.name not in ("options", "settings")}
    values = {}
    for key, value in raw.items():
        dotted = f"{prefix}.{key}"
        if key not in fields:
            fail(dotted, f"unknown key{_did_you_mean(key, fields)}")
        values[key] = _coerce(value, hints[key], dotted, fail)
    return cls(**values)


def _coerce(value: Any, hint: Any, key: str, fail: typing.Callable[..., typing.NoReturn]) -> Any:
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:  # before reading an environment value: as its inner type
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return None if value is None else _coerce(value, args[0], key, fail)
    if isinstance(value, _EnvStr):
        if origin is tuple and not value.lstrip().startswith("["):
            value = [part.strip() for part in value.split(",") if part.strip()]
        elif hint in (str, Path) or origin is Literal:
            value = str(value)
        else:
            value = _parse_toml_value(value)
    if origin is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            fail(key, f"expected one of {', '.join(map(repr, choices))}, got {_describe(value)}")
        return value
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            fail(key, f"expected a table, got {_describe(value)}")
        return _build_dataclass(hint, value, key, fail)
    if origin in (Mapping, dict, collections.abc.Mapping):
        if not isinstance(value, dict):
            fail(key, f"expected a table, got {_describe(value)}")
        inner = typing.get_args(hint)[1]
        return {str(k): _coerce(v, inner, f"{key}.{k}", fail) for k, v in value.items()}
    if origin is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            fail(key, f"expected a list of strings, got {_describe(value)}")
        return tuple(value)
    if hint is bool:
        if not isinstance(value, bool):
            fail(key, f"expected true or false, got {_describe(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            fail(key, f"expected an integer, got {_describe(value)}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            fail(key, f"expected a number, got {_describe(value)}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            fail(key, f"expected a string, got {_describe(value)}")
        return value
    if hint is Path:
        if not isinstance(value, str):
            fail(key, f"expected a path string, got {_describe(value)}")
        return Path(value)
    raise TypeError(f"unsupported config type {hint!r} for {key}")  # a bug in this module, not in the file


def _check_semantics(config: Config, origin: str, origins: Mapping[str, str]) -> None:
    def fail(key: str, problem: str) -> typing.NoReturn:
        raise ConfigError(_source_of(key, origin, origins), key, problem)

    if not 0 <= config.server.port <= 65535:
        fail("server.port", f"must be between 0 and 65535, got {config.server.port}")
    if config.server.shutdown_timeout <= 0:
        fail("server.shutdown_timeout", "must be greater than 0")
    if config.server.socket_send_buffer < 0:
        fail("server.socket_send_buffer", "must be 0 (the OS default) or a number of bytes")
    if config.server.max_frame_bytes < SEND_FRAME_BYTES:
        fail("server.max_frame_bytes", f"must be at least {SEND_FRAME_BYTES}, the size of a send frame at the "
             "protocol's character limits")
    url = config.database.url
    if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        fail("database.url", f"expected sqlite+aiosqlite:///FILE or postgresql+asyncpg://..., got {url.split(':')[0]!r}")
    if config.database.max_batch < 1:
        fail("database.max_batch", "must be at least 1")
    for key in ("chat_queue_limit", "events_queue_limit"):
        if getattr(config.database, key) < 1:
            fail(f"database.{key}", "must be at least 1")
    if not 0 < config.database.busy_retry_after <= 3600:
        fail("database.busy_retry_after", "must be more than 0 and at most 3600 seconds")
    rules_dir = resolve_path(config, config.rules.directory)
    if not rules_dir.is_dir():
        fail("rules.directory", f"directory not found: {rules_dir}")
    try:
        ZoneInfo(config.rules.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        fail("rules.timezone", f"unknown time zone {config.rules.timezone!r}")
    if config.rules.check_interval <= 0:
        fail("rules.check_interval", "must be greater than 0")
    if config.rules.keep_revisions < 1:
        fail("rules.keep_revisions", "must be at least 1")
    node_id = config.cluster.node_id
    if len(node_id) > 191 or node_id != node_id.strip() or any(not c.isprintable() for c in node_id):
        fail("cluster.node_id", "must be at most 191 printable characters without leading or trailing spaces")
    _check_secrets(config, fail)
    _check_auth(config, fail)
    _check_web(config, fail)
    _check_cluster(config, fail)
    _check_telemetry(config, fail)
    if config.chat.send_queue_size < 4:
        fail("chat.send_queue_size", "must be at least 4")
    if config.chat.visitor_rate <= 0 or config.chat.visitor_burst < 1:
        fail("chat.visitor_rate" if config.chat.visitor_rate <= 0 else "chat.visitor_burst", "must be positive")
    if config.chat.rating_window < 0:
        fail("chat.rating_window", "must be 0 (no ratings) or a number of seconds")
    if not config.chat.teams:
        fail("chat.teams", "must name at least one team")
    if config.chat.default_team not in config.chat.teams:
        fail("chat.default_team", f"{config.chat.default_team!r} is not in chat.teams")
    _check_attachments(config, fail)
    for name, source in config.events.sources.items():
        if not source.secrets:
            fail(f"events.sources.{name}.secrets", "needs at least one secret")
        for n, secret in enumerate(source.secrets):
            if not secret.strip():
                fail(f"events.sources.{name}.secrets[{n}]", "must not be empty (anyone could sign with it)")
    for currency, rate in config.events.exchange_rates.items():
        if rate <= 0:
            fail(f"events.exchange_rates.{currency}", "must be greater than 0")
    if config.events.max_batch < 1:
        fail("events.max_batch", "must be at least 1")
    for name, endpoint in config.webhooks.endpoints.items():
        if not endpoint.url.startswith(("http://", "https://")):
            fail(f"webhooks.endpoints.{name}.url", f"expected an http(s) URL, got {endpoint.url!r}")
        if not endpoint.secret:
            fail(f"webhooks.endpoints.{name}.secret", "must be set (receivers verify deliveries with it)")
    if config.webhooks.max_attempts < 1:
        fail("webhooks.max_attempts", "must be at least 1")
    if config.webhooks.backoff_base <= 0:
        fail("webhooks.backoff_base", "must be greater than 0")
    if config.webhooks.backoff_max < config.webhooks.backoff_base:
        fail("webhooks.backoff_max", "must be at least webhooks.backoff_base")
    for name, endpoint in config.webhooks.endpoints.items():
        if endpoint.timeout <= 0:
            fail(f"webhooks.endpoints.{name}.timeout", "must be greater than 0")
    for n, entry in enumerate(config.plugins.load):
        if looks_like_path(entry) and not resolve_path(config, Path(entry)).exists():
            fail(f"plugins.load[{n}]", f"file not found: {resolve_path(config, Path(entry))}")


#: Shorter visitor-token secrets are refused: they sign every visitor's access to their history.
MIN_SIGNING_SECRET = 16


def _check_secrets(config: Config, fail: typing.Callable[[str, str], typing.NoReturn]) -> None:
    """An empty secret is never a key: an explicit one is an error (a missing one is generated at startup)."""
    secrets = config.secrets
    generated = "remove the key to have the host generate one"
    for name, hint in (("visitor_token", generated), ("identity", generated),
                       ("admin_token", "to turn the admin API off set auth.admin_api = false")):
        value = getattr(secrets, name)
        if value is not None and not value.strip():
            fail(f"secrets.{name}", f"must not be empty ({hint})")
    for key, value in [("secrets.visitor_token", secrets.visitor_token),
                       *((f"secrets.visitor_token_previous[{n}]", v)
                         for n, v in enumerate(secrets.visitor_token_previous))]:
        if value is not None and not value.strip():
            fail(key, "must not be empty")
        if value is not None and len(value.strip()) < MIN_SIGNING_SECRET:
            fail(key, f"must be at least {MIN_SIGNING_SECRET} characters")


def _check_attachments(config: Config, fail: typing.Callable[[str, str], typing.NoReturn]) -> None:
    attachments = config.attachments
    if attachments.max_bytes < 1:
        fail("attachments.max_bytes", "must be at least 1")
    for n, kind in enumerate(attachments.allowed_types):
        if kind not in SNIFFED_TYPES:
            fail(f"attachments.allowed_types[{n}]",
                 f"{kind!r} is not a type the host recognises in a file's bytes; choose from {', '.join(SNIFFED_TYPES)}")


def _check_auth(config: Config, fail: typing.Callable[[str, str], typing.NoReturn]) -> None:
    auth = config.auth
    if auth.max_failures < 1:
        fail("auth.max_failures", "must be at least 1")
    if auth.failure_window <= 0:
        fail("auth.failure_window", "must be greater than 0")
    if auth.agent_check_interval <= 0:
        fail("auth.agent_check_interval", "must be greater than 0")
    if auth.visitor_token_ttl < 60:
        fail("auth.visitor_token_ttl", "must be at least 60 seconds")
    for n, network in enumerate(auth.trusted_proxies):
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            fail(f"auth.trusted_proxies[{n}]", f"expected an address or CIDR network, got {network!r}")


#: ``scheme://host[:port]``, as browsers send it in ``Origin``.
_ORIGIN = re.compile(r"https?://(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::[0-9]{1,5})?")


def _check_web(config: Config, fail: typing.Callable[[str, str], typing.NoReturn]) -> None:
    web = config.web
    if web.public_origin and not _ORIGIN.fullmatch(web.public_origin):
        fail("web.public_origin", f"expected scheme://host[:port] with no path, like https://kefu.example.com, "
                                  f"got {web.public_origin!r}")
    if web.session_idle_timeout < 60:
        fail("web.session_idle_timeout", "must be at least 60 seconds")
    if web.session_lifetime < 60:
        fail("web.session_lifetime", "must be at least 60 seconds")


def _check_telemetry(config: Config, fail: typing.Callable[[str, str], typing.NoReturn]) -> None:
    if not 0 <= config.metrics.port <= 65535:
        fail("metrics.port", f"must be 0 (the main listener) or a port, got {config.metrics.port}")
    if config.metrics.port and config.metrics.port == config.server.port:
        fail("metrics.port", "must differ from server.port (0 serves /metrics on the main listener)")
    if not 0.0 <= config.tracing.sample_ratio <= 1.0:
        fail("tracing.sample_ratio", f"must be between 0 and 1, got {config.tracing.sample_ratio}")
    if config.tracing.enabled and not config.tracing.endpoint.startswith(("http://", "https://")):
        fail("tracing.endpoint", f"expected an http(s) URL, got {config.tracing.endpoint!r}")


def _describe(value: Any) -> str:
    kind = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "table"}.get(
        type(value), type(value).__name__
    )
    shown = repr(value) if not isinstance(value, dict | list) else ""
    if isinstance(value, str):
        shown = f'"{value}"'
    return f"{kind} {shown}".strip() if kind != "string" else shown


def _did_you_mean(word: str, choices: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f", did you mean {close[0]!r}?" if close else ""


def _check_cluster(config: Config, fail: typing.Callable[[str, str], typing.NoReturn]) -> None:
    cluster = config.cluster
    if not cluster.enabled:
        return
    if not cluster.redis_url.startswith(("redis://", "rediss://", "unix://")):
        fail("cluster.redis_url", f"expected redis://host:port/db, got {cluster.redis_url.split(':')[0]!r}")
    if config.database.url.startswith("sqlite"):
        fail("cluster.redis_url", "several nodes need a shared database: set database.url to postgresql+asyncpg://...")
    if cluster.heartbeat_interval <= 0:
        fail("cluster.heartbeat_interval", "must be greater than 0")
    if cluster.session_ttl < 2 * cluster.heartbeat_interval:
        fail("cluster.session_ttl", "must be at least twice cluster.heartbeat_interval")
