"""The configuration's shape: one frozen dataclass per section of kefu.toml, with defaults and meanings.

Loading and checking live in :mod:`kefu_host.config.load`; docs/configuration.md describes every key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ENV_PREFIX = "KEFU_"
#: The shipped kefu.toml's secrets start with this; the host warns while any is in use.
DEV_SECRET_PREFIX = "dev-"
#: Keys of ``[plugins.NAME]`` the host reads itself; everything else is handed to the plugin.
HOST_PLUGIN_KEYS = frozenset({"required", "enabled", "hook_timeout"})
#: Names under ``[plugins]`` that are settings, so no plugin may take them.
RESERVED_PLUGIN_NAMES = frozenset({"load", "block", "hook_timeout"})


class ConfigError(Exception):
    """A configuration problem, rendered as one line: ``<source>: <key>: <problem>``."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source, self.key, self.problem = source, key, problem
        super().__init__(f"{source}: {key}: {problem}" if key else f"{source}: {problem}")


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    #: Seconds a graceful shutdown may take before remaining work is cancelled.
    shutdown_timeout: float = 10.0
    #: Seconds between turning /readyz to 503 and closing the listener (lets a load balancer notice).
    drain_delay: float = 0.0
    #: Origins a browser WebSocket may come from; empty means same-origin only.
    allowed_origins: tuple[str, ...] = ()
    #: permessage-deflate costs several times the memory per connection; off unless asked for.
    websocket_compression: bool = False
    max_frame_bytes: int = 16384
    #: Kernel send buffer (SO_SNDBUF) of each WebSocket, in bytes; 0 keeps the OS default (which autotunes up to
    #: megabytes per socket). A small one bounds memory per slow client and finds slow clients sooner.
    socket_send_buffer: int = 0
    #: Log format: "auto" (console on a TTY, JSON lines otherwise), "console" or "json".
    log_format: Literal["auto", "console", "json"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"


@dataclass(frozen=True)
class DatabaseConfig:
    #: SQLAlchemy URL: ``sqlite+aiosqlite:///path`` (relative paths are resolved against the config file)
    #: or ``postgresql+asyncpg://user@host/db``.
    url: str = "sqlite+aiosqlite:///data/kefu.db"
    migrate_on_start: bool = True
    #: SQLite ``synchronous`` pragma. "full" survives power loss; "normal" only process crashes.
    sqlite_synchronous: Literal["full", "normal"] = "full"
    #: Seconds a SQLite statement waits for a lock before the store reports itself unavailable.
    sqlite_busy_timeout: float = 10.0
    #: Seconds between WAL checkpoints run by a thread of their own; 0 leaves them to SQLite, inside commits.
    sqlite_checkpoint_interval: float = 0.2
    pool_size: int = 5
    #: Most rows the group-commit writer puts in one transaction.
    max_batch: int = 2000


@dataclass(frozen=True)
class RulesConfig:
    directory: Path = Path("rules")
    #: Time zone for ``time.hour`` and ``time.weekday`` in rules.
    timezone: str = "UTC"
    #: Reload when files change (else only on SIGHUP, POST /api/rules/reload and the rescan).
    watch: bool = True
    #: Seconds between content-hash rescans that back up the file watcher; 0 turns rescans off.
    rescan_interval: float = 10.0
    #: Seconds to wait for more file changes before reloading.
    debounce: float = 0.2
    #: Accept a directory without any .rule file (every conversation then goes to chat.default_team).
    allow_empty: bool = False


@dataclass(frozen=True)
class SecretsConfig:
    #: Signs visitor session tokens.
    visitor_token: str = ""
    #: Shared with the business backend; it sends HMAC-SHA256(identity, user_id) to prove who a visitor is.
    identity: str = ""
    #: Bearer token for the admin API (/api/plugins, /api/rules, ...).
    admin_token: str = ""


@dataclass(frozen=True)
class ChatConfig:
    teams: tuple[str, ...] = ("support",)
    default_team: str = "support"
    #: Seconds an agent may be disconnected before their conversations go back to the queue.
    agent_grace_period: float = 60.0
    #: Seconds without messages after which an assigned conversation closes.
    idle_close_after: float = 1800.0
    #: Frames a socket may have waiting before it is closed as too slow.
    send_queue_size: int = 256
    #: Visitor messages per second (token bucket rate) and burst.
    visitor_rate: float = 5.0
    visitor_burst: int = 20
    #: Most missed messages replayed on resume; further back the client is told to resync.
    max_replay: int = 1000


@dataclass(frozen=True)
class EventSource:
    """A business system allowed to send events, with the secrets it may sign with (several during rotation)."""

    secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class RedisEventSource:
    """Events read from a Redis Stream with a consumer group (empty ``url`` turns it off)."""

    url: str = ""
    stream: str = "kefu:events"
    group: str = "kefu-host"
    #: This process's consumer name; empty means host name and process id.
    consumer: str = ""
    #: Name under which these events are de-duplicated (as if they came from this source).
    source: str = "broker"
    #: Seconds an entry may stay unacknowledged before another consumer takes it over.
    claim_idle: float = 30.0
    #: Deliveries after which a failing entry is moved to ``<stream>:dead`` and acknowledged.
    max_deliveries: int = 5


@dataclass(frozen=True)
class EventsConfig:
    #: Largest request body accepted on /api/events and /api/events/batch (413 above).
    max_body_bytes: int = 1024 * 1024
    #: Most events in one batch request.
    max_batch: int = 500
    #: Seconds a signature timestamp may differ from now.
    tolerance: int = 300
    #: Currency of customer LTV; amounts in other currencies are converted with ``exchange_rates``.
    currency: str = "CNY"
    exchange_rates: Mapping[str, float] = field(default_factory=dict)
    sources: Mapping[str, EventSource] = field(default_factory=dict)
    redis: RedisEventSource = RedisEventSource()


@dataclass(frozen=True)
class WebhookEndpoint:
    url: str = ""
    secret: str = ""
    #: Event types to send (``conversation.created``, ...); ``*`` for all.
    events: tuple[str, ...] = ("*",)
    timeout: float = 10.0


@dataclass(frozen=True)
class WebhooksConfig:
    #: Attempts before a delivery is dead-lettered (12 spans about three hours with the default backoff).
    max_attempts: int = 12
    #: Seconds before the first retry; doubles each attempt (with jitter) up to ``backoff_max``.
    backoff_base: float = 5.0
    backoff_max: float = 3600.0
    endpoints: Mapping[str, WebhookEndpoint] = field(default_factory=dict)


@dataclass(frozen=True)
class PluginOptions:
    """One ``[plugins.NAME]`` table: the host's keys plus the plugin's own settings."""

    required: bool = False
    enabled: bool = True
    hook_timeout: float | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PluginsConfig:
    #: Plugin paths (package directory or .py file, relative to the config file) or entry-point names.
    load: tuple[str, ...] = ()
    #: Plugin names never to load, whatever their source.
    block: tuple[str, ...] = ()
    #: Default seconds an async hook implementation may run.
    hook_timeout: float = 5.0
    options: Mapping[str, PluginOptions] = field(default_factory=dict)

    def for_plugin(self, name: str) -> PluginOptions:
        return self.options.get(name, PluginOptions())


@dataclass(frozen=True)
class Config:
    server: ServerConfig = ServerConfig()
    database: DatabaseConfig = DatabaseConfig()
    rules: RulesConfig = RulesConfig()
    secrets: SecretsConfig = SecretsConfig()
    chat: ChatConfig = ChatConfig()
    events: EventsConfig = EventsConfig()
    webhooks: WebhooksConfig = WebhooksConfig()
    plugins: PluginsConfig = PluginsConfig()
    #: Where the configuration came from; relative paths resolve against its directory.
    source: Path | None = None

    @property
    def base_dir(self) -> Path:
        return self.source.parent if self.source else Path.cwd()

    def secret_values(self) -> frozenset[str]:
        """Every configured secret, so the log pipeline can redact them wherever they appear."""
        values = {v for v in dataclasses.asdict(self.secrets).values() if v}
        values |= {s for source in self.events.sources.values() for s in source.secrets}
        values |= {e.secret for e in self.webhooks.endpoints.values() if e.secret}
        return frozenset(values)


def looks_like_path(entry: str) -> bool:
    """A ``plugins.load`` entry is a path (else an entry-point name) when it has a slash or ends in .py."""
    return "/" in entry or entry.endswith(".py") or entry.startswith(".")


def resolve_path(config: Config, path: Path) -> Path:
    """A path from the config, made absolute against the config file's directory."""
    path = path.expanduser()
    return path if path.is_absolute() else (config.base_dir / path).resolve()


def database_url(config: Config) -> str:
    """The database URL with a relative SQLite file resolved against the config file's directory."""
    url = config.database.url
    prefix = "sqlite+aiosqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        path, _, query = url[len(prefix) :].partition("?")
        resolved = resolve_path(config, Path(path))
        url = prefix + str(resolved) + (f"?{query}" if query else "")
    return url


