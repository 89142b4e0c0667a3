"""The configuration's shape: one frozen dataclass per section of kefu.toml, with defaults and meanings.

Loading and checking live in :mod:`kefu_host.config.load`; docs/configuration.md describes every key.
"""

from __future__ import annotations

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
    #: Largest WebSocket frame, in bytes. The default holds a ``send`` frame at the protocol's character limits
    #: however it is escaped (:data:`kefu_host.chat.protocol.SEND_FRAME_BYTES`, the lowest value accepted).
    max_frame_bytes: int = 131072
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
    #: Most rows the group-commit writer puts in one transaction (per lane: chat, events).
    max_batch: int = 2000
    #: Chat writes (messages and every other write but events) that may wait for the writer; past it a send is
    #: refused with ``store_busy`` (retry later) instead of waiting without bound.
    chat_queue_limit: int = 10_000
    #: Business events that may wait for the writer; past it event senders get 503 ``store_busy``.
    events_queue_limit: int = 20_000
    #: Seconds a refused sender is told to wait before retrying (``Retry-After``, the frame's ``retry_after``).
    busy_retry_after: float = 1.0


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
    #: Seconds between checks of the database's active revision (backing up PostgreSQL's LISTEN/NOTIFY) and
    #: heartbeats of what this node runs.
    check_interval: float = 5.0
    #: Publish this node's rules directory when it changes (and at startup when it holds content never published);
    #: false: the node only runs the active revision of the database.
    publish_files: bool = True
    #: Published revisions kept in the database besides the active one; each publish deletes older ones.
    keep_revisions: int = 50


#: The signing secrets the host makes up (and keeps in the secrets file) when they are not configured.
GENERATED_SECRETS = ("visitor_token", "identity", "admin_token")


@dataclass(frozen=True)
class SecretsConfig:
    """Secrets the host signs and checks with. None means not configured: see :mod:`kefu_host.config.secrets`."""

    #: Signs visitor session tokens (JWT, HS256).
    visitor_token: str | None = field(default=None, repr=False)
    #: Earlier visitor-token secrets that still verify (not sign) during a rotation.
    visitor_token_previous: tuple[str, ...] = field(default=(), repr=False)
    #: Shared with the business backend; it sends HMAC-SHA256(identity, user_id) to prove who a visitor is.
    identity: str | None = field(default=None, repr=False)
    #: Bearer token for the admin API (/api/plugins, /api/rules, ...).
    admin_token: str | None = field(default=None, repr=False)

    def values(self) -> tuple[str, ...]:
        """Every secret set here, the previous visitor-token secrets included."""
        single = (self.visitor_token, self.identity, self.admin_token)
        return (*(v for v in single if v), *self.visitor_token_previous)


@dataclass(frozen=True)
class AuthConfig:
    #: Failed authentications (visitor and agent handshakes, history reads, admin API) one client address may make
    #: in ``failure_window`` seconds; past that it is answered 429 with Retry-After, without checking anything.
    max_failures: int = 20
    failure_window: float = 60.0
    #: Addresses (CIDR or single) of reverse proxies whose ``X-Forwarded-For`` names the client.
    trusted_proxies: tuple[str, ...] = ()
    #: Seconds between checks of the agents with open sockets: a disabled agent, or one given a new token, is
    #: disconnected (4001) within this.
    agent_check_interval: float = 1.0
    #: Seconds a visitor token is valid.
    visitor_token_ttl: int = 30 * 24 * 3600
    #: False turns the admin API off (403 admin_disabled) whatever ``secrets.admin_token`` is.
    admin_api: bool = True
    #: Where generated secrets are kept (mode 0600). Default: beside the SQLite database (``data/kefu.db`` ->
    #: ``data/kefu.secrets.toml``); with PostgreSQL there is no default (set the secrets, or this).
    secrets_file: Path | None = None
    #: Start with the shipped development secrets (``dev-...``) on a non-loopback ``server.host``.
    insecure_dev: bool = False


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
    #: Seconds after a conversation closes during which its visitor may rate it (and change the rating); 0: no
    #: ratings are asked for or taken.
    rating_window: float = 7 * 24 * 3600.0


@dataclass(frozen=True)
class AttachmentsConfig:
    """Files visitors and agents attach to a conversation (kefu_host.attachments)."""

    #: Where the files are kept. Default: beside the SQLite database (``data/kefu.db`` -> ``data/kefu.attachments``);
    #: with PostgreSQL, ``attachments`` in the config file's directory.
    directory: Path | None = None
    #: Largest file accepted, in bytes; one byte more is refused (413) before it is stored.
    max_bytes: int = 10 * 1024 * 1024
    #: Types accepted, as sniffed from the file's bytes (never the name or the client's Content-Type); empty turns
    #: uploads off. The choices are in kefu_host.attachments.sniff.SNIFFED_TYPES.
    allowed_types: tuple[str, ...] = ("image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf",
                                      "text/plain")


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
class WebConfig:
    """The pages the host serves and the console's sign-in sessions."""

    #: Serve the pages at all (console, setup page, widget, demo, their static files); the APIs stay either way.
    enabled: bool = True
    #: Serve /demo, a shop page with the widget embedded (the bundled kefu.toml turns it on; production leaves it off).
    demo: bool = False
    #: The console's origin as browsers see it (``https://kefu.example.com``) when a reverse proxy stands in front;
    #: empty: the origin each request came to. Cookie-signed requests must come from it or the request's own origin.
    public_origin: str = ""
    #: Seconds a console session lives unused (an open console counts as use); then it must sign in again.
    session_idle_timeout: float = 2 * 3600.0
    #: Seconds a console session lives at most, used or not.
    session_lifetime: float = 12 * 3600.0


@dataclass(frozen=True)
class ClusterConfig:
    """Several host processes on one PostgreSQL database, fanning out through Redis (docs/operations.md)."""

    #: Redis for cross-node fan-out (``redis://host:6379/0``); empty: one process, the in-process broker.
    redis_url: str = ""
    #: This process's name among the hosts on the database (presence rows, rule heartbeats, ``GET /api/rules``,
    #: origins, the metrics' ``node`` label, logs); empty: ``hostname:pid``.
    node_id: str = ""
    #: Seconds between this node's heartbeats of its agents' sessions.
    heartbeat_interval: float = 5.0
    #: Seconds without a heartbeat after which a node's sessions count as gone (its agents offline).
    session_ttl: float = 15.0

    @property
    def enabled(self) -> bool:
        return bool(self.redis_url)


@dataclass(frozen=True)
class MetricsConfig:
    """Prometheus metrics (docs/metrics.md)."""

    #: Count and serve metrics at all; false leaves no /metrics and no counting on the message path.
    enabled: bool = True
    #: 0 serves ``GET /metrics`` on the main listener, admin-protected; another port serves it there, without
    #: authentication, on ``host`` (keep that port on a private network).
    port: int = 0
    host: str = "127.0.0.1"


@dataclass(frozen=True)
class TracingConfig:
    """OpenTelemetry tracing (docs/operations.md#tracing)."""

    enabled: bool = False
    #: Fraction of new traces recorded (0 to 1); a request whose ``traceparent`` says sampled is always recorded.
    sample_ratio: float = 1.0
    #: OTLP over HTTP (protobuf): the collector's traces URL.
    endpoint: str = "http://127.0.0.1:4318/v1/traces"
    #: ``service.name`` of the spans.
    service_name: str = "kefu-host"


@dataclass(frozen=True)
class Config:
    server: ServerConfig = ServerConfig()
    database: DatabaseConfig = DatabaseConfig()
    rules: RulesConfig = RulesConfig()
    secrets: SecretsConfig = SecretsConfig()
    auth: AuthConfig = AuthConfig()
    chat: ChatConfig = ChatConfig()
    attachments: AttachmentsConfig = AttachmentsConfig()
    events: EventsConfig = EventsConfig()
    webhooks: WebhooksConfig = WebhooksConfig()
    plugins: PluginsConfig = PluginsConfig()
    web: WebConfig = WebConfig()
    cluster: ClusterConfig = ClusterConfig()
    metrics: MetricsConfig = MetricsConfig()
    tracing: TracingConfig = TracingConfig()
    #: Where the configuration came from; relative paths resolve against its directory.
    source: Path | None = None
    #: For keys set outside the file: the environment variable or "command line" that set them; "" is the file as
    #: it was named.
    key_sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def base_dir(self) -> Path:
        return self.source.parent if self.source else Path.cwd()

    def origin_of(self, key: str) -> str:
        """The environment variable or flag that set ``key`` (or one of its parents), else the file."""
        parts = key.split(".")
        for n in range(len(parts), 0, -1):
            found = self.key_sources.get(".".join(parts[:n]))
            if found:
                return found
        return self.key_sources.get("") or (str(self.source) if self.source is not None else "defaults")

    def secret_values(self) -> frozenset[str]:
        """Every configured secret, so the log pipeline can redact them wherever they appear."""
        values = set(self.secrets.values())
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


