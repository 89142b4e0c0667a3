"""Typed configuration: ``kefu.toml``, ``KEFU_SECTION__KEY`` environment overrides, command-line overrides.

:mod:`kefu_host.config.schema` is the shape (a frozen dataclass per section), :mod:`kefu_host.config.load` reads
and checks it. Everything a caller needs is importable from here.
"""

from kefu_host.config.load import load_config
from kefu_host.config.schema import (
    DEV_SECRET_PREFIX,
    GENERATED_SECRETS,
    ENV_PREFIX,
    HOST_PLUGIN_KEYS,
    RESERVED_PLUGIN_NAMES,
    AttachmentsConfig,
    AuthConfig,
    ChatConfig,
    ClusterConfig,
    Config,
    ConfigError,
    DatabaseConfig,
    EventsConfig,
    EventSource,
    PluginOptions,
    PluginsConfig,
    RedisEventSource,
    RulesConfig,
    SecretsConfig,
    ServerConfig,
    WebhookEndpoint,
    WebConfig,
    WebhooksConfig,
    database_url,
    looks_like_path,
    resolve_path,
)
from kefu_host.config.secrets import SecretsReport, secure_config

__all__ = [
    "DEV_SECRET_PREFIX",
    "GENERATED_SECRETS",
    "ENV_PREFIX",
    "HOST_PLUGIN_KEYS",
    "RESERVED_PLUGIN_NAMES",
    "AttachmentsConfig",
    "AuthConfig",
    "ChatConfig",
    "ClusterConfig",
    "Config",
    "ConfigError",
    "DatabaseConfig",
    "EventSource",
    "EventsConfig",
    "PluginOptions",
    "PluginsConfig",
    "RedisEventSource",
    "RulesConfig",
    "SecretsConfig",
    "SecretsReport",
    "ServerConfig",
    "WebhookEndpoint",
    "WebConfig",
    "WebhooksConfig",
    "database_url",
    "load_config",
    "looks_like_path",
    "resolve_path",
    "secure_config",
]
